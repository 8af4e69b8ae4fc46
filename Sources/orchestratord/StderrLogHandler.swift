import Foundation
import Logging
import OrchestratorCore

/// Writes one line per log event to stderr, as JSON objects or as text.
struct StderrLogHandler: LogHandler {
    enum Format: String {
        case json, text
    }

    let label: String
    let format: Format
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, format: Format, level: Logger.Level) {
        self.label = label
        self.format = format
        self.logLevel = level
    }

    /// RFC 3339 in UTC with milliseconds: `2026-11-29T01:04:52.501Z`.
    static let timestamp = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra, uniquingKeysWith: { _, new in new }) }
        let line: String
        switch format {
        case .json:
            var object: [String: String] = [
                "ts": Date().formatted(Self.timestamp),
                "level": event.level.rawValue, "msg": event.message.description, "logger": label,
            ]
            for (key, value) in merged { object[key] = "\(value)" }
            line = (try? JSONCoding.encodeString(object)) ?? event.message.description
        case .text:
            let meta = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            line = "\(Date().ISO8601Format()) \(event.level.rawValue.uppercased()) \(event.message)\(meta.isEmpty ? "" : " " + meta)"
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

import Foundation
import Logging
import OrchestratorCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes one line per log event to stderr, as JSON objects or as text (`LogLine`).
///
/// Each line goes out in one `write(2)` of its own, straight from the logging thread:
/// nothing is buffered in the process, so no line is lost if the process dies, and
/// lines from several threads never interleave (one write per line, below the pipe
/// buffer size for any line the gateway writes).
struct StderrLogHandler: LogHandler {
    typealias Format = LogLine.Format

    /// What never changes once the logger is made, behind one reference: the handler
    /// then fits in an existential's three-word inline buffer. Every request copies a
    /// logger and sets metadata on it, and a larger handler was boxed on the heap and
    /// copied out of its shared box (`swift_makeBoxUnique`) each time.
    private final class Fixed: Sendable {
        let label: String
        let format: Format

        init(label: String, format: Format) {
            self.label = label
            self.format = format
        }
    }

    private let fixed: Fixed
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    var label: String { fixed.label }
    var format: Format { fixed.format }

    init(label: String, format: Format, level: Logger.Level) {
        self.fixed = Fixed(label: label, format: format)
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let millis = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        let line = LogLine.render(
            format: format, timestampMillis: millis, level: event.level, label: label,
            message: event.message.description, handlerMetadata: metadata, eventMetadata: event.metadata)
        Self.writeToStderr(line)
    }

    /// Writes all of `bytes` to file descriptor 2, retrying on `EINTR` and short writes;
    /// gives up silently on any other error (there is nowhere left to report it).
    private static func writeToStderr(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            guard var base = raw.baseAddress else { return }
            var left = raw.count
            while left > 0 {
                let written = write(2, base, left)
                if written > 0 {
                    base += written
                    left -= written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}

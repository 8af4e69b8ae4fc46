import Foundation
import HTTPTypes
import NIOCore
import OrchestratorCore

/// Turns failed upstream calls into ``GatewayError``s the router can classify.
enum UpstreamFailure {
    /// The most of an error body read for its message.
    static let errorBodyLimit = 64 * 1024

    /// Maps a transport failure.
    static func fromTransport(_ error: any Error, provider: String) -> any Error {
        if error is CancellationError { return error }
        guard let error = error as? TransportError else {
            return GatewayError.upstreamUnreachable(Redaction.scrub("\(error)"), provider: provider)
        }
        switch error.kind {
        case .timeout:
            return GatewayError.timeout("Upstream \(provider) did not answer in time.")
        case .idleTimeout:
            return GatewayError.timeout("Upstream \(provider) stream went silent for longer than the idle timeout.")
        case .connect, .tls, .closed, .other:
            return GatewayError.upstreamUnreachable(Redaction.scrub(error.message), provider: provider)
        }
    }

    /// Reads an error response and maps it, keeping the upstream's status and message.
    static func fromResponse(_ response: TransportResponse, provider: String) async -> GatewayError {
        let body = (try? await response.collect(upTo: errorBodyLimit)) ?? ByteBuffer()
        let message = errorMessage(from: body) ?? "(no error message)"
        return GatewayError.upstream(
            status: response.status, message: Redaction.scrub(message), provider: provider,
            retryAfterSeconds: retryAfter(response.headers))
    }

    /// Extracts a message from OpenAI-, Anthropic- or Gemini-shaped error bodies, or the
    /// start of a plain-text body.
    static func errorMessage(from body: ByteBuffer) -> String? {
        if let json = try? JSONCoding.decode(JSONValue.self, from: body) {
            if let error = json["error"] {
                if let message = error["message"]?.stringValue { return message }
                if let message = error.stringValue { return message }
            }
            if let message = json["message"]?.stringValue { return message }
            if let detail = json["detail"]?.stringValue { return detail }
        }
        let text = String(decoding: body.readableBytesView.prefix(500), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    /// `Retry-After` in whole seconds, from delta-seconds or an HTTP date.
    static func retryAfter(_ headers: HTTPFields) -> Int? {
        guard let value = headers[.retryAfter]?.trimmingCharacters(in: .whitespaces) else { return nil }
        // At most a day: a hostile or broken header must neither crash nor rest a key forever.
        let limit = 86_400.0
        if let seconds = Double(value) {
            guard seconds.isFinite else { return nil }
            return Int(min(max(0, seconds.rounded(.up)), limit))
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        if let date = formatter.date(from: value) {
            return Int(min(max(0, date.timeIntervalSinceNow.rounded(.up)), limit))
        }
        return nil
    }
}

extension HTTPField.Name {
    static let retryAfter = HTTPField.Name("Retry-After")!
    static let xRequestID = HTTPField.Name("x-request-id")!
}

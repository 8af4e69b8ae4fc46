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
        // Google answers a bad key with 400 INVALID_ARGUMENT (reason API_KEY_INVALID): it is
        // the gateway's upstream key that was refused, as a 401 says elsewhere.
        let status = response.status == 400 && isInvalidGoogleKey(body) ? 401 : response.status
        var error = GatewayError.upstream(
            status: status, message: Redaction.scrub(message), provider: provider,
            retryAfterSeconds: retryAfter(response.firstValue(.retryAfter)) ?? retryDelay(in: body))
        // A content filter's refusal (OpenAI and Azure say `code: content_filter`) keeps
        // its code, so clients can tell it from other 400s.
        if !error.isRetryable, let inner = (try? JSONCoding.decode(JSONValue.self, from: body))?["error"],
            inner["code"]?.stringValue == "content_filter"
        {
            error.code = "content_filter"
            error.param = inner["param"]?.stringValue
        }
        return error
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

    /// Whether a Google error body says the API key is invalid (`details[].reason`).
    static func isInvalidGoogleKey(_ body: ByteBuffer) -> Bool {
        guard let details = (try? JSONCoding.decode(JSONValue.self, from: body))?["error"]?["details"]?.arrayValue else {
            return false
        }
        return details.contains { $0["reason"]?.stringValue == "API_KEY_INVALID" }
    }

    /// Google's `RetryInfo` detail (`"retryDelay": "41s"`) in whole seconds, for
    /// Gemini's 429s, which carry no `Retry-After` header.
    static func retryDelay(in body: ByteBuffer) -> Int? {
        guard let details = (try? JSONCoding.decode(JSONValue.self, from: body))?["error"]?["details"]?.arrayValue else {
            return nil
        }
        for detail in details {
            guard let delay = detail["retryDelay"]?.stringValue, delay.hasSuffix("s"),
                let seconds = Double(delay.dropLast()), seconds.isFinite
            else { continue }
            return Int(min(max(0, seconds.rounded(.up)), 86_400))
        }
        return nil
    }

    /// `Retry-After` in whole seconds, from delta-seconds or an HTTP date.
    static func retryAfter(_ field: String?) -> Int? {
        guard let value = field?.trimmingCharacters(in: .whitespaces) else { return nil }
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
    /// Azure OpenAI's key header.
    static let apiKey = HTTPField.Name("api-key")!
    /// Gemini's key header.
    static let googAPIKey = HTTPField.Name("x-goog-api-key")!
    /// Gemini's request id.
    static let xGoogRequestID = HTTPField.Name("x-goog-request-id")!
}

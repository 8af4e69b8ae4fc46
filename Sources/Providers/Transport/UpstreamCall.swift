import HTTPTypes
import Logging
import NIOCore
import OrchestratorCore

/// The steps of an upstream call every adapter takes the same way: send, check the
/// status, read the body, with every failure mapped to what the engine understands.
extension HTTPTransport {
    /// Sends `request`; a transport failure becomes a classified ``GatewayError``.
    func send(_ request: TransportRequest, provider: String, deadline: ContinuousClock.Instant, logger: Logger)
        async throws(GatewayError) -> TransportResponse
    {
        do {
            return try await execute(request, deadline: deadline, logger: logger)
        } catch {
            throw ProviderErrors.gatewayError(UpstreamFailure.fromTransport(error, provider: provider))
        }
    }
}

extension TransportResponse {
    /// Throws the upstream's error (status and message kept) unless the status is 2xx.
    func requireSuccess(provider: String) async throws(GatewayError) {
        guard (200..<300).contains(status) else {
            throw await UpstreamFailure.fromResponse(self, provider: provider)
        }
    }

    /// The whole body of a successful response, at most `limit` bytes.
    func successBody(provider: String, limit: Int) async throws(GatewayError) -> ByteBuffer {
        try await requireSuccess(provider: provider)
        do {
            return try await collect(upTo: limit)
        } catch let error as BodyTooLarge {
            throw .badUpstreamResponse("response body exceeds \(error.limit) bytes", provider: provider)
        } catch {
            throw ProviderErrors.gatewayError(UpstreamFailure.fromTransport(error, provider: provider))
        }
    }

    /// Checks that a stream request got a successful event stream. Some servers answer
    /// one with a JSON body (often an error) and 200: that is read for its message.
    func requireEventStream(provider: String) async throws(GatewayError) {
        try await requireSuccess(provider: provider)
        if let contentType = firstValue(.contentType), !Self.namesEventStream(contentType) {
            let body = (try? await collect(upTo: UpstreamFailure.errorBodyLimit)) ?? ByteBuffer()
            let message = UpstreamFailure.errorMessage(from: body) ?? "unexpected content type \(contentType)"
            throw .badUpstreamResponse("expected an event stream: \(Redaction.scrub(message))", provider: provider)
        }
    }

    /// Whether a `Content-Type` value mentions `text/event-stream`, in any case. Compared
    /// in place: lower-casing the value and searching it cost four allocations per
    /// stream.
    static func namesEventStream(_ contentType: String) -> Bool {
        var value = contentType
        return value.withUTF8 { RawBytes.containsIgnoringCase(UnsafeRawBufferPointer($0), "text/event-stream") }
    }
}

extension ProviderConfig {
    /// `base_url` without trailing slashes.
    var trimmedBaseURL: Substring {
        // Over the UTF-8 bytes: comparing `Character`s breaks graphemes, about 1,500
        // instructions for a URL.
        let utf8 = baseURL.utf8
        var end = utf8.endIndex
        while end > utf8.startIndex, utf8[utf8.index(before: end)] == UInt8(ascii: "/") { end = utf8.index(before: end) }
        return baseURL[..<end]
    }

    /// `base_url` joined with `path`, without a doubled slash.
    func url(_ path: String) -> String {
        // Built in one allocation: this runs for every upstream call.
        let base = trimmedBaseURL
        var url = ""
        url.reserveCapacity(base.utf8.count + 1 + path.utf8.count)
        url += base
        url += "/"
        url += path
        return url
    }
}

extension HTTPFields {
    /// Adds a provider's configured `headers` (they win over the adapter's own).
    mutating func addProviderHeaders(_ provider: ProviderConfig) {
        for (name, value) in provider.headers {
            if let fieldName = HTTPField.Name(name) { self[fieldName] = value }
        }
    }
}

extension TargetConfig {
    /// `body` with the target's `extra_body` merged in, one level deep: an object merges
    /// into the body's own object of that name (the target's keys win); anything else
    /// replaces it. `model`, when given, is rewritten too.
    func applyingExtraBody(to body: ByteBuffer, model: String? = nil) throws -> ByteBuffer {
        if extraBody.isEmpty && model == nil { return body }
        var rewriter = JSONObjectRewriter()
        if let model { rewriter.set("model", string: model) }
        for (key, value) in extraBody {
            let existing = JSONObjectRewriter.value(of: key, in: body)
            try rewriter.set(key, value: JSONObjectRewriter.mergedOneLevel(value, into: existing))
        }
        return try rewriter.apply(to: body)
    }
}

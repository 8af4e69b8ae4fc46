public import HTTPTypes
import Logging
public import NIOCore
import OrchestratorCore

/// A response of the gateway's own endpoints, independent of the server carrying it:
/// the Hummingbird routes and the NIO data plane both serve these.
public struct FrontResponse: Sendable {
    public var status: HTTPResponse.Status
    public var headers: HTTPFields
    public var body: FrontBody
    /// For a stream: what to send while it is silent, so clients and proxies do not
    /// take it for dead (an SSE comment); nil: nothing.
    public var keepAlive: ByteBuffer?

    public init(status: HTTPResponse.Status, headers: HTTPFields, body: FrontBody, keepAlive: ByteBuffer? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.keepAlive = keepAlive
    }
}

/// A response body: complete, or produced while it is written.
public enum FrontBody: Sendable {
    case bytes(ByteBuffer)
    /// Writes every piece through `write`; returns false when the client went away (the
    /// body must then not be finished). A producer may call `end` with its last piece
    /// (or none) to end the body there and then, before work of its own that the client
    /// need not wait for (it throws when the client is gone); the server ends the body
    /// when the producer returns otherwise. After `end`, nothing more is written.
    case stream(
        @Sendable (_ write: (ByteBuffer) async throws -> Void, _ end: (ByteBuffer?) async throws -> Void) async -> Bool)
}

/// What every request gets at the edge whichever server carries it: its request id,
/// errors in the route's error shape, and one access-log line.
enum FrontDoor {
    /// A valid incoming `x-request-id`, else a new one.
    static func requestID(_ headers: HTTPFields) -> String {
        requestID(given: headers.firstValue(.xRequestID))
    }

    /// The client's `x-request-id` when it may be echoed, else a new id.
    static func requestID(given: String?) -> String {
        given.flatMap { RequestID.isValid($0) ? $0 : nil } ?? RequestID.generate()
    }

    /// Whether a path belongs to the Anthropic-style routes (errors in Anthropic's shape).
    static func isAnthropicPath(_ path: String) -> Bool {
        path == "/v1/messages" || path.hasPrefix("/v1/messages/")
    }

    /// The codec whose error shape a path's errors take.
    static func errorCodec(
        path: String, openAI: any InboundCodec, anthropic: (any InboundCodec)?, gemini: (any InboundCodec)?
    ) -> any InboundCodec {
        if let anthropic, isAnthropicPath(path) { return anthropic }
        if let gemini, path.hasPrefix("/v1beta/") { return gemini }
        return openAI
    }

    /// An error in the codec's shape (499 is never sent: the client is gone; 400 if it is not).
    static func errorResponse(_ error: GatewayError, codec: any InboundCodec) -> FrontResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter = error.retryAfterSeconds, error.status == 429 || error.status == 503 {
            headers[.retryAfter] = String(retryAfter)
        }
        headers.add(error.rateLimit)
        return FrontResponse(
            status: HTTPResponse.Status(code: error.status == 499 ? 400 : error.status), headers: headers,
            body: .bytes(codec.encodeError(error)))
    }

    /// Logs an unexpected error behind a 500 (scrubbed of secrets).
    static func logUnexpected(_ error: any Error, mapped: GatewayError, logger: Logger) {
        if mapped.status == 500 {
            logger.error("unhandled error", metadata: ["error": "\(Redaction.scrub(String(describing: error)))"])
        }
    }

    /// The access-log line.
    ///
    /// - Parameter requestID: the request's id, when `logger` does not carry it already
    ///   (the data plane adds it only to lines that are written).
    static func logAccess(
        method: HTTPRequest.Method, path: String, status: Int, elapsed: Duration, requestID: String? = nil, logger: Logger
    ) {
        logger.info(
            "request",
            metadata: {
                var metadata: Logger.Metadata = [
                    "http.method": "\(method.rawValue)", "http.path": "\(path)", "http.status": "\(status)",
                    "duration_ms": "\(Double(elapsed.totalMicroseconds) / 1000)",
                ]
                if let requestID { metadata["request.id"] = .string(requestID) }
                return metadata
            }())
    }
}

extension HTTPFields {
    /// The client key's `x-ratelimit-*` headers, when it has per-minute limits.
    mutating func add(_ status: RateLimitStatus?) {
        guard let status else { return }
        for (name, value) in status.headerFields {
            if let name = HTTPField.Name(name) { self[name] = value }
        }
    }
}

public import HTTPTypes
import Logging
public import NIOCore
import OrchestratorCore

/// A response of the gateway's own endpoints, independent of the server carrying it:
/// the Hummingbird routes and the NIO data plane both serve these.
public struct FrontResponse: Sendable {
    public var status: HTTPResponse.Status
    /// The response's fields, besides the gateway's own in ``gateway``.
    public var headers: HTTPFields
    /// The fields the gateway gives every response it serves, as values.
    var gateway = GatewayFields()
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

    /// ``headers`` with the ``gateway`` fields added, for a server that takes fields
    /// (Hummingbird's routes).
    public var allHeaders: HTTPFields {
        var all = headers
        gateway.add(to: &all)
        return all
    }
}

/// The fields the gateway itself gives a response it serves, kept as values until the
/// head is written.
///
/// The data plane's codec writes them straight into the head's bytes
/// (``write(to:bodiless:)``). As `HTTPFields` each cost about 550 instructions: a
/// validated `HTTPField`, a search of the fields already set, and copies of the field
/// as the collection grew and as the head was written, for seven or eight fields per
/// response. Hummingbird's routes get them as fields (``add(to:)``).
struct GatewayFields: Sendable, Equatable {
    enum ContentType: Sendable, Equatable {
        case json
        case eventStream
        case other(String)
    }

    var contentType: ContentType?
    /// A stream's `Cache-Control: no-cache` and `X-Accel-Buffering: no`.
    var streaming = false
    /// `x-orchestrator-provider`, `-attempts` and `-overhead-ms`.
    var provider: String?
    var attempts = 0
    var overheadMilliseconds: String?
    /// `x-request-id`.
    var requestID: String?
    /// `Content-Length`, for a complete body.
    var contentLength: Int?
    /// `Connection: close`.
    var close = false

    /// The fields of a served route: its provider, attempts and overhead.
    mutating func setRoute(_ route: RouteInfo) {
        provider = route.provider
        attempts = route.attempts
        overheadMilliseconds = route.overheadMillisecondsText
    }

    /// About what ``write(to:bodiless:)`` takes, for a first guess at a head's capacity.
    var roughSize: Int {
        var size = 0
        if contentType != nil { size += 48 }
        if streaming { size += Self.streamingLines.utf8CodeUnitCount }
        if let provider { size += 56 + provider.utf8.count }
        if overheadMilliseconds != nil { size += 40 }
        if let requestID { size += 16 + requestID.utf8.count }
        if contentLength != nil { size += 32 }
        if close { size += Self.closeLine.utf8CodeUnitCount }
        return size
    }

    private static let contentTypeLine: StaticString = "Content-Type: "
    private static let streamingLines: StaticString = "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"
    private static let providerLine: StaticString = "x-orchestrator-provider: "
    private static let attemptsLine: StaticString = "x-orchestrator-attempts: "
    private static let overheadLine: StaticString = "x-orchestrator-overhead-ms: "
    private static let requestIDLine: StaticString = "x-request-id: "
    private static let contentLengthLine: StaticString = "Content-Length: "
    private static let closeLine: StaticString = "Connection: close\r\n"

    /// Writes the field lines, without `Content-Length` when the response has no body
    /// (`bodiless`: 1xx, 204, 304, or the answer to a CONNECT).
    func write(to buffer: inout ByteBuffer, bodiless: Bool) {
        // Values from outside (a provider's name, an encoder's content type; request ids
        // are checked at the door) are written as they are only when plain; anything
        // else goes as `HTTPField` would make it.
        let plainType: String? =
            switch self.contentType {
            case .json: "application/json"
            case .eventStream: "text/event-stream"
            case .other(let value): Self.plainValue(value)
            case nil: nil
            }
        let plainProvider = provider.map(Self.plainValue)
        let plainRequestID = requestID.map(Self.plainValue)
        var size = 0
        if let plainType { size += Self.contentTypeLine.utf8CodeUnitCount + plainType.utf8.count + 2 }
        if streaming { size += Self.streamingLines.utf8CodeUnitCount }
        if let plainProvider {
            size += Self.providerLine.utf8CodeUnitCount + plainProvider.utf8.count + 2
            size += Self.attemptsLine.utf8CodeUnitCount + HeadBytes.maxDecimalDigits + 2
        }
        if let overheadMilliseconds { size += Self.overheadLine.utf8CodeUnitCount + overheadMilliseconds.utf8.count + 2 }
        if let plainRequestID { size += Self.requestIDLine.utf8CodeUnitCount + plainRequestID.utf8.count + 2 }
        if contentLength != nil, !bodiless { size += Self.contentLengthLine.utf8CodeUnitCount + HeadBytes.maxDecimalDigits + 2 }
        if close { size += Self.closeLine.utf8CodeUnitCount }
        guard size > 0 else { return }
        buffer.writeHead(maximumBytes: size) { out in
            if let plainType { Self.line(Self.contentTypeLine, plainType, &out) }
            if streaming { out.append(Self.streamingLines) }
            if let plainProvider {
                Self.line(Self.providerLine, plainProvider, &out)
                out.append(Self.attemptsLine)
                out.append(decimal: max(0, attempts))
                out.append("\r\n")
            }
            if let overheadMilliseconds { Self.line(Self.overheadLine, overheadMilliseconds, &out) }
            if let plainRequestID { Self.line(Self.requestIDLine, plainRequestID, &out) }
            if let contentLength, !bodiless {
                out.append(Self.contentLengthLine)
                out.append(decimal: max(0, contentLength))
                out.append("\r\n")
            }
            if close { out.append(Self.closeLine) }
        }
    }

    private static func line(_ name: StaticString, _ value: String, _ out: inout HeadBytes) {
        out.append(name)
        out.append(value)
        out.append("\r\n")
    }

    /// `value` when every byte is visible ASCII or an inner space or tab (a field value
    /// as it may be sent); otherwise the value `HTTPField` makes of it (invalid bytes as
    /// spaces, no whitespace around it), so no value can end a line early.
    static func plainValue(_ value: String) -> String {
        // Over the string's own bytes where it has them (native and small strings do):
        // iterating `utf8` cost about 40 instructions a byte, for every response.
        let plain = value.utf8.withContiguousStorageIfAvailable(isPlain) ?? Array(value.utf8).withUnsafeBufferPointer(isPlain)
        return plain ? value : HTTPField(name: .contentType, value: value).value
    }

    private static func isPlain(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = bytes.first, let last = bytes.last else { return true }
        if first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09 { return false }
        for byte in bytes where (byte < 0x20 || byte > 0x7E) && byte != 0x09 { return false }
        return true
    }

    /// Adds the fields to `fields`, as the codec writes them (Hummingbird's routes).
    func add(to fields: inout HTTPFields) {
        switch contentType {
        case .json: fields[.contentType] = "application/json"
        case .eventStream: fields[.contentType] = "text/event-stream"
        case .other(let value): fields[.contentType] = value
        case nil: break
        }
        if streaming {
            fields[.cacheControl] = "no-cache"
            fields[.xAccelBuffering] = "no"
        }
        if let provider {
            fields[.xOrchestratorProvider] = provider
            fields[.xOrchestratorAttempts] = String(attempts)
        }
        if let overheadMilliseconds { fields[.xOrchestratorOverheadMs] = overheadMilliseconds }
        if let requestID { fields[.xRequestID] = requestID }
        if let contentLength { fields[.contentLength] = String(contentLength) }
        if close { fields[.connection] = "close" }
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

public import HTTPTypes
public import NIOCore
public import Logging

/// The engine façade: what HTTPFront and embedders call to serve a chat request.
///
/// Implemented by the routing engine in `Balancing`. It resolves the model, picks
/// targets, calls providers with failover, and records the request log; callers only
/// decode requests and encode results in their API style.
public protocol ChatService: Sendable {
    /// Serves one chat completion request.
    ///
    /// - Returns: a completed response, or a stream that the caller drives.
    /// - Throws: ``GatewayError`` for anything the client should see.
    func chat(_ request: InboundRequest, principal: Principal, logger: Logger) async throws(GatewayError) -> ChatResult

    /// Serves one chat completion request, handing a completed (non-streamed) result to
    /// `deliver` as soon as it is ready: before the service's bookkeeping for it (the
    /// request-log row, the metrics), which the client then does not wait for. Every
    /// `.completion` this returns has been through `deliver` first; streams and errors
    /// never go through it (a stream's caller finishes it with
    /// ``ChatStream/forEach(_:afterLast:)``).
    func chat(_ request: InboundRequest, principal: Principal, logger: Logger, deliver: CompletionDelivery)
        async throws(GatewayError) -> ChatResult

    /// The model aliases `principal` may use, for `GET /v1/models`.
    func models(for principal: Principal) -> [ModelInfo]

    /// Records an authenticated request the front door rejected before it reached the
    /// engine (malformed JSON, invalid fields, a body over the limit), so that every
    /// authenticated request leaves a request-log row.
    func recordRejected(_ rejection: RejectedRequest) async

    /// Counts the input tokens of a request (`/v1/messages/count_tokens`): resolved and
    /// authorized like a chat request, answered by the first target whose provider can
    /// count, else estimated. No request-log row: nothing is generated or billed.
    func countTokens(_ request: InboundRequest, principal: Principal, logger: Logger) async throws(GatewayError) -> Int
}

/// Receives a completed response's body and route (see
/// ``ChatService/chat(_:principal:logger:deliver:)``).
public typealias CompletionDelivery = @Sendable (_ body: CompletionBody, _ route: RouteInfo) async -> Void

extension ChatService {
    /// For services without bookkeeping of their own to put after the response: the
    /// completion is delivered when ``chat(_:principal:logger:)`` returns it.
    public func chat(_ request: InboundRequest, principal: Principal, logger: Logger, deliver: CompletionDelivery)
        async throws(GatewayError) -> ChatResult
    {
        let result = try await chat(request, principal: principal, logger: logger)
        if case .completion(let body, let route) = result { await deliver(body, route) }
        return result
    }

    public func countTokens(_ request: InboundRequest, principal: Principal, logger: Logger) async throws(GatewayError)
        -> Int
    {
        TokenEstimator.inputTokens(request.chat)
    }
}

/// An authenticated request that never reached routing, and why.
public struct RejectedRequest: Sendable {
    public var requestID: String
    public var principal: Principal
    public var style: APIStyle
    /// The requested model, when the body could be read far enough to tell.
    public var model: String?
    public var stream: Bool
    public var receivedAtMillis: Int64
    public var receivedAt: ContinuousClock.Instant
    public var error: GatewayError

    public init(
        requestID: String, principal: Principal, style: APIStyle, model: String?, stream: Bool, receivedAtMillis: Int64,
        receivedAt: ContinuousClock.Instant, error: GatewayError
    ) {
        self.requestID = requestID
        self.principal = principal
        self.style = style
        self.model = model
        self.stream = stream
        self.receivedAtMillis = receivedAtMillis
        self.receivedAt = receivedAt
        self.error = error
    }
}

/// A request as it arrived: its API style, its raw body, and its canonical form.
///
/// Immutable, and a class: the engine hands it to every attempt's `ProviderCall`, the
/// log and the stream, and a copy of the value (a body buffer, the canonical request,
/// the forwarded fields, the route: some twenty references) cost about 5,000
/// instructions per request in retains and releases.
public final class InboundRequest: Sendable {
    /// The API style of the route it arrived on.
    public let style: APIStyle
    /// The body exactly as received (used verbatim on the same-style pass-through path).
    public let body: ByteBuffer
    /// The canonical (OpenAI-shaped) request.
    public let chat: ChatRequest
    /// The request id (`x-request-id`).
    public let requestID: String
    /// Wall-clock receive time, epoch milliseconds.
    public let receivedAtMillis: Int64
    /// When the request arrived, for latency measurements.
    public let receivedAt: ContinuousClock.Instant
    /// Client headers the upstream of the same style should see (`anthropic-beta`,
    /// `anthropic-version`), only used on the same-style pass-through path.
    public let forwardedHeaders: HTTPFields
    /// What the request asks for. For operations other than chat, ``chat`` is the
    /// routing view of the request: its `model`, `stream`, and its input text as one user
    /// message (for token estimates); adapters read the operation's own fields from ``body``.
    public let operation: APIOperation
    /// What the route's path and query said (Gemini's model and stream flag, `alt=sse`).
    public let route: RouteParameters
    /// Where the top-level `model` value (a JSON string, as written) lies in ``body``'s
    /// readable bytes, when the decoder found it; nil when not known. A same-style
    /// pass-through replaces it there, without walking the body again.
    public let modelValue: Range<Int>?

    public init(
        style: APIStyle, body: ByteBuffer, chat: ChatRequest, requestID: String,
        receivedAtMillis: Int64, receivedAt: ContinuousClock.Instant = .now, forwardedHeaders: HTTPFields = [:],
        operation: APIOperation = .chat, route: RouteParameters = RouteParameters(), modelValue: Range<Int>? = nil
    ) {
        self.modelValue = modelValue
        self.forwardedHeaders = forwardedHeaders
        self.operation = operation
        self.route = route
        self.style = style
        self.body = body
        self.chat = chat
        self.requestID = requestID
        self.receivedAtMillis = receivedAtMillis
        self.receivedAt = receivedAt
    }
}

/// The outcome of ``ChatService/chat(_:principal:logger:)``.
public enum ChatResult: Sendable {
    case completion(CompletionBody, RouteInfo)
    case stream(ChatStream, RouteInfo)

    /// Which target served the request and after how many attempts.
    public var route: RouteInfo {
        switch self {
        case .completion(_, let route), .stream(_, let route): return route
        }
    }
}

/// Where a request was finally served, and what the gateway itself cost (sent as
/// `x-orchestrator-provider`, `x-orchestrator-attempts` and `x-orchestrator-overhead-ms`).
public struct RouteInfo: Sendable, Hashable {
    public var provider: String
    public var upstreamModel: String
    public var attempts: Int
    /// Time spent in the gateway until the result was ready, excluding the time spent
    /// waiting for upstreams (for streams: until the first event).
    public var overhead: Duration
    /// The client key's rate-limit standing after this request was admitted.
    public var rateLimit: RateLimitStatus?

    public init(provider: String, upstreamModel: String, attempts: Int, overhead: Duration = .zero) {
        self.provider = provider
        self.upstreamModel = upstreamModel
        self.attempts = attempts
        self.overhead = overhead
    }

    /// ``overhead`` in milliseconds with two decimals, as the header shows it.
    public var overheadMillisecondsText: String {
        let hundredths = max(0, (overhead.totalMicroseconds + 5) / 10)
        let whole = hundredths / 100
        var wholeDigits = 1
        var rest = whole
        while rest >= 10 {
            rest /= 10
            wholeDigits += 1
        }
        // The digits written in place: interpolation built three strings and joined
        // them, for every response.
        return String(unsafeUninitializedCapacity: wholeDigits + 3) { out in
            var value = whole
            for index in stride(from: wholeDigits - 1, through: 0, by: -1) {
                out[index] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
            let fraction = hundredths % 100
            out[wholeDigits] = UInt8(ascii: ".")
            out[wholeDigits + 1] = UInt8(ascii: "0") + UInt8(fraction / 10)
            out[wholeDigits + 2] = UInt8(ascii: "0") + UInt8(fraction % 10)
            return wholeDigits + 3
        }
    }
}

/// A complete (non-streaming) response body.
public enum CompletionBody: Sendable {
    /// The upstream's own bytes, already in the inbound style (same-style pass-through).
    case raw(ByteBuffer)
    /// A canonical completion the inbound codec encodes.
    case canonical(ChatCompletion)
}

/// One piece of a streamed response.
public enum StreamPart: Sendable {
    /// Bytes already framed as SSE in the inbound style (same-style pass-through).
    case raw(ByteBuffer)
    /// A canonical chunk the inbound codec encodes.
    case chunk(ChatCompletionChunk)
}

/// A response stream the caller drives with ``forEach(_:afterLast:)``.
///
/// The engine reads the upstream only as fast as the caller accepts parts, so
/// back-pressure reaches the upstream connection. When `emit` throws (the client went
/// away) the upstream request is cancelled and the request log records a 499.
public struct ChatStream: Sendable {
    /// Receives each part; throwing ends the stream (the client is gone).
    public typealias Emit = (StreamPart) async throws -> Void
    /// Runs once the last part has been emitted, when the stream ended well: the caller
    /// finishes its response here (its closing bytes, the end of the body), before the
    /// producer does its own bookkeeping (the request log, metrics, the upstream key),
    /// which the client then does not wait for. Throwing means the client is gone.
    public typealias AfterLast = () async throws -> Void
    private let body: @Sendable (Emit, AfterLast) async throws -> Void

    /// A stream whose `body` emits every part; `afterLast` runs when it returns.
    public init(_ body: @escaping @Sendable (Emit) async throws -> Void) {
        self.body = { emit, afterLast in
            try await body(emit)
            try await afterLast()
        }
    }

    /// A stream whose `body` calls `afterLast` itself, after its last part and before
    /// its bookkeeping, when the stream ended well (and not after an error).
    public init(callingAfterLast body: @escaping @Sendable (_ emit: Emit, _ afterLast: AfterLast) async throws -> Void) {
        self.body = body
    }

    /// Delivers every part to `emit`, in order, then runs `afterLast` if the stream
    /// ended well.
    ///
    /// - Throws: the error `emit` or `afterLast` threw, or a ``GatewayError`` when the
    ///   upstream failed after the stream started (the caller ends the stream with an
    ///   error event).
    public func forEach(_ emit: Emit, afterLast: AfterLast = {}) async throws {
        try await body(emit, afterLast)
    }
}

/// A model alias a client may request.
public struct ModelInfo: Sendable, Hashable, Codable {
    public var id: String
    public var object: String
    public var created: Int64
    public var ownedBy: String

    public init(id: String, created: Int64 = 0, ownedBy: String = "orchestrator") {
        self.id = id
        self.object = "model"
        self.created = created
        self.ownedBy = ownedBy
    }

    enum CodingKeys: String, CodingKey {
        case id, object, created
        case ownedBy = "owned_by"
    }
}

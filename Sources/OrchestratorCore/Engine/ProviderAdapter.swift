public import Logging

/// Translates canonical requests to one provider's wire format and back, and performs
/// the upstream call. One adapter instance serves one configured provider.
public protocol ProviderAdapter: Sendable {
    /// The API style the provider speaks natively; a request of the same style is
    /// forwarded as raw bytes with only its `model` rewritten.
    var style: APIStyle { get }

    /// Performs a non-streaming completion.
    func complete(_ call: ProviderCall) async throws(GatewayError) -> ProviderCompletion

    /// Starts a streaming completion. Returns once the upstream answered with a
    /// success head; failures before that are thrown (and may be retried elsewhere).
    func stream(_ call: ProviderCall) async throws(GatewayError) -> ProviderStream

    /// Checks cheaply that the provider answers and accepts `apiKey` (its models list,
    /// or the cheapest request it allows). Returns on success, throws the failure.
    func probe(_ provider: ProviderConfig, apiKey: String?, deadline: ContinuousClock.Instant, logger: Logger)
        async throws(GatewayError)

    /// Counts the input tokens of `call`'s request with the provider's own counter;
    /// nil when the provider has none (the caller then estimates).
    func countTokens(_ call: ProviderCall) async throws(GatewayError) -> Int?

    /// Whether the provider serves `operation` (``complete(_:)``/``stream(_:)`` then
    /// handle requests of that operation).
    func supports(_ operation: APIOperation) -> Bool

    /// Why the provider cannot serve this particular request although it serves its
    /// operation (Gemini embeds text, not token ids), or nil. Such targets are skipped;
    /// when none is left the client gets this error.
    func refusal(of request: InboundRequest) -> GatewayError?
}

extension ProviderAdapter {
    public func supports(_ operation: APIOperation) -> Bool { operation == .chat }

    public func refusal(of request: InboundRequest) -> GatewayError? { nil }

    public func countTokens(_ call: ProviderCall) async throws(GatewayError) -> Int? { nil }
}

/// Everything an adapter needs for one attempt.
public struct ProviderCall: Sendable {
    public var request: InboundRequest
    public var provider: ProviderConfig
    public var target: TargetConfig
    /// The upstream key chosen from the provider's pool, if it has any.
    public var apiKey: String?
    /// When this attempt must have its response head.
    public var deadline: ContinuousClock.Instant
    public var logger: Logger

    public init(
        request: InboundRequest, provider: ProviderConfig, target: TargetConfig, apiKey: String?,
        deadline: ContinuousClock.Instant, logger: Logger
    ) {
        self.request = request
        self.provider = provider
        self.target = target
        self.apiKey = apiKey
        self.deadline = deadline
        self.logger = logger
    }
}

/// A finished upstream completion.
public struct ProviderCompletion: Sendable {
    public var body: CompletionBody
    /// Usage as reported (or estimated, see ``usageEstimated``).
    public var usage: Usage?
    public var usageEstimated: Bool
    /// The upstream's own request id, for correlation in logs.
    public var upstreamRequestID: String?
    /// The completion text, when the adapter can cheaply provide it (for body logging).
    public init(body: CompletionBody, usage: Usage?, usageEstimated: Bool = false, upstreamRequestID: String? = nil) {
        self.body = body
        self.usage = usage
        self.usageEstimated = usageEstimated
        self.upstreamRequestID = upstreamRequestID
    }
}

/// What a provider stream yields.
public enum ProviderStreamEvent: Sendable {
    /// A part for the client.
    case part(StreamPart)
    /// Usage the upstream reported (not forwarded by itself).
    case usage(Usage)
    /// Output text seen, for estimating tokens if the stream is cut short.
    case outputText(Int)
}

/// A started upstream stream.
public struct ProviderStream: Sendable {
    public var events: ErasedAsyncSequence<ProviderStreamEvent>
    public var upstreamRequestID: String?

    public init(events: ErasedAsyncSequence<ProviderStreamEvent>, upstreamRequestID: String? = nil) {
        self.events = events
        self.upstreamRequestID = upstreamRequestID
    }
}

/// Makes the adapter for a configured provider; `orchestratord` injects the one from
/// `Providers` into the engine, which therefore never imports concrete adapters.
public protocol ProviderFactory: Sendable {
    func makeAdapter(for provider: ProviderConfig) throws(GatewayError) -> any ProviderAdapter
}

public import Hummingbird
import OrchestratorCore

/// Per-request state shared by middleware and routes.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request id echoed in `x-request-id` (a valid incoming one, else a new one).
    public var requestID: String = ""
    /// When the request arrived.
    public var receivedAt: ContinuousClock.Instant = .now
    public var receivedAtMillis: Int64 = 0

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }
}

import NIOCore
import OrchestratorCore

/// Accumulates what one request did, then produces its request-log row.
struct LogBuilder: Sendable {
    /// What the request fixed when it arrived. Held by reference: the builder is copied
    /// from frame to frame as a request is routed, tried and streamed, and each copy of
    /// these values retained and released every string in them.
    private final class Arrival: Sendable {
        /// The request itself (a class): copying its `chat` out retained every string
        /// and array in it.
        let request: InboundRequest
        let principal: Principal
        let clock: any GatewayClock
        let maxBodyBytes: Int
        let requestBody: String?

        init(request: InboundRequest, principal: Principal, clock: any GatewayClock, maxBodyBytes: Int) {
            self.request = request
            self.principal = principal
            self.clock = clock
            self.maxBodyBytes = maxBodyBytes
            self.requestBody =
                principal.logBodies
                ? String(decoding: request.body.readableBytesView.prefix(maxBodyBytes), as: UTF8.self) : nil
        }
    }

    private let arrival: Arrival
    var chat: ChatRequest { arrival.request.chat }

    var attempts = 0
    var provider: String?
    var upstreamModel: String?
    var price: Price?
    var usage: Usage?
    var tokensEstimated = false
    var firstTokenAt: ContinuousClock.Instant?
    var upstreamRequestID: String?
    var responseBody: String?
    var attemptDetails: [AttemptRecord] = []
    /// The client key's admission, settled with the row (limits and budget).
    var admission: KeyAdmission?
    /// The admission of the attempt that answered under its provider's caps, settled
    /// with the row too.
    var providerAdmission: KeyAdmission?

    init(request: InboundRequest, principal: Principal, clock: any GatewayClock, maxBodyBytes: Int) {
        arrival = Arrival(request: request, principal: principal, clock: clock, maxBodyBytes: maxBodyBytes)
    }

    mutating func recordAttempt(_ target: TargetConfig, keyID: String?, status: Int, error: String?, latency: Duration) {
        attemptDetails.append(
            AttemptRecord(
                provider: target.provider, model: target.model, keyID: keyID, status: status,
                error: error.map(Redaction.scrub), latencyMs: latency.totalMilliseconds))
    }

    mutating func captureResponse(_ body: CompletionBody) {
        guard arrival.principal.logBodies else { return }
        let maxBodyBytes = arrival.maxBodyBytes
        switch body {
        case .raw(let buffer):
            responseBody = String(decoding: buffer.readableBytesView.prefix(maxBodyBytes), as: UTF8.self)
        case .canonical(let completion):
            responseBody = (try? JSONCoding.encodeString(completion)).map { String($0.prefix(maxBodyBytes)) }
        }
    }

    /// The usage's cost at the answering target's price (0 without either).
    private var costMicros: Int64 { (usage.flatMap { u in price.map { $0.costMicros(for: u) } }) ?? 0 }

    /// Settles the key's and the provider's admissions with the request's tokens and
    /// cost, which frees their concurrency slots. Only the first call counts.
    func settleAdmissions() {
        guard admission != nil || providerAdmission != nil else { return }
        let tokens = (usage?.promptTokens ?? 0) + (usage?.completionTokens ?? 0)
        let cost = costMicros
        admission?.settle(tokens: tokens, costMicros: cost)
        providerAdmission?.settle(tokens: tokens, costMicros: cost)
    }

    func finish(status: Int, error: GatewayError?) -> RequestLogEntry {
        let arrival = self.arrival
        let receivedAt = arrival.request.receivedAt
        let now = arrival.clock.now
        let usage = self.usage
        let cost = costMicros
        return RequestLogEntry(
            requestID: arrival.request.requestID, timestampMillis: arrival.request.receivedAtMillis,
            keyID: arrival.principal.keyID, keyName: arrival.principal.name, apiStyle: arrival.request.style.rawValue,
            model: arrival.request.chat.model, provider: provider, upstreamModel: upstreamModel,
            stream: arrival.request.chat.isStreaming, status: status, attempts: attempts,
            latencyMillis: receivedAt.duration(to: now).totalMilliseconds,
            timeToFirstTokenMillis: firstTokenAt.map { receivedAt.duration(to: $0).totalMilliseconds },
            promptTokens: usage?.promptTokens ?? 0, completionTokens: usage?.completionTokens ?? 0,
            cachedTokens: usage?.cachedTokens ?? 0, tokensEstimated: tokensEstimated, costMicros: cost,
            errorMessage: error.map { Redaction.scrub($0.message) }, upstreamRequestID: upstreamRequestID,
            requestBody: arrival.requestBody, responseBody: responseBody, attemptDetails: attemptDetails)
    }
}

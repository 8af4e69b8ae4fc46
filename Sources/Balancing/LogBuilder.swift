import NIOCore
import OrchestratorCore

/// Accumulates what one request did, then produces its request-log row.
struct LogBuilder: Sendable {
    let chat: ChatRequest
    private let requestID: String
    private let receivedAtMillis: Int64
    private let receivedAt: ContinuousClock.Instant
    private let principal: Principal
    private let style: APIStyle
    private let clock: any GatewayClock
    private let maxBodyBytes: Int
    private let requestBody: String?

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
        self.chat = request.chat
        self.requestID = request.requestID
        self.receivedAtMillis = request.receivedAtMillis
        self.receivedAt = request.receivedAt
        self.principal = principal
        self.style = request.style
        self.clock = clock
        self.maxBodyBytes = maxBodyBytes
        self.requestBody =
            principal.logBodies
            ? String(decoding: request.body.readableBytesView.prefix(maxBodyBytes), as: UTF8.self) : nil
    }

    mutating func recordAttempt(_ target: TargetConfig, keyID: String?, status: Int, error: String?, latency: Duration) {
        attemptDetails.append(
            AttemptRecord(
                provider: target.provider, model: target.model, keyID: keyID, status: status,
                error: error.map(Redaction.scrub), latencyMs: latency.totalMilliseconds))
    }

    mutating func captureResponse(_ body: CompletionBody) {
        guard principal.logBodies else { return }
        switch body {
        case .raw(let buffer):
            responseBody = String(decoding: buffer.readableBytesView.prefix(maxBodyBytes), as: UTF8.self)
        case .canonical(let completion):
            responseBody = (try? JSONCoding.encodeString(completion)).map { String($0.prefix(maxBodyBytes)) }
        }
    }

    func finish(status: Int, error: GatewayError?) -> RequestLogEntry {
        let now = clock.now
        let usage = self.usage
        let cost = (usage.flatMap { u in price.map { $0.costMicros(for: u) } }) ?? 0
        return RequestLogEntry(
            requestID: requestID, timestampMillis: receivedAtMillis, keyID: principal.keyID, keyName: principal.name,
            apiStyle: style.rawValue, model: chat.model, provider: provider, upstreamModel: upstreamModel,
            stream: chat.isStreaming, status: status, attempts: attempts,
            latencyMillis: receivedAt.duration(to: now).totalMilliseconds,
            timeToFirstTokenMillis: firstTokenAt.map { receivedAt.duration(to: $0).totalMilliseconds },
            promptTokens: usage?.promptTokens ?? 0, completionTokens: usage?.completionTokens ?? 0,
            cachedTokens: usage?.cachedTokens ?? 0, tokensEstimated: tokensEstimated, costMicros: cost,
            errorMessage: error.map { Redaction.scrub($0.message) }, upstreamRequestID: upstreamRequestID,
            requestBody: requestBody, responseBody: responseBody, attemptDetails: attemptDetails)
    }
}

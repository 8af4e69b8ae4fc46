public import Logging
import Metrics
import NIOCore
public import OrchestratorCore
import Synchronization

/// The routing engine behind the ``ChatService`` façade.
///
/// For each request it resolves the model, orders the candidate targets (priority tiers,
/// then the routing strategy), skips open circuits and targets lacking a needed
/// capability, calls the provider adapter, and on a retryable failure before the first
/// byte reached the client backs off and fails over to the next candidate, within
/// `max_attempts` and the request deadline. Every request ends in exactly one
/// request-log row.
public final class GatewayEngine: ChatService {
    public struct Configuration: Sendable {
        public var routing: RoutingSettings
        /// How much of a body is kept in the log for keys with `log_bodies`.
        public var maxLoggedBodyBytes = 64 * 1024

        public init(routing: RoutingSettings = .init()) {
            self.routing = routing
        }
    }

    private let table: Mutex<RoutingTable>
    private let configuration: Configuration
    private let health: any HealthRegistry
    private let logSink: any RequestLogSink
    private let clock: any GatewayClock
    private let latencyOf: @Sendable (TargetID) -> Duration?

    /// - Parameters:
    ///   - table: the initial routing snapshot.
    ///   - health: passive health registry consulted and fed on every attempt.
    ///   - logSink: where request-log rows go.
    ///   - latencyOf: recent latency per target, for `least_latency` ordering.
    public init(
        table: RoutingTable, configuration: Configuration, health: any HealthRegistry, logSink: any RequestLogSink,
        clock: any GatewayClock = SystemClock(), latencyOf: @escaping @Sendable (TargetID) -> Duration? = { _ in nil }
    ) {
        self.table = Mutex(table)
        self.configuration = configuration
        self.health = health
        self.logSink = logSink
        self.clock = clock
        self.latencyOf = latencyOf
    }

    /// Swaps the routing snapshot; requests already running keep the old one.
    public func replaceTable(_ newTable: RoutingTable) {
        table.withLock { $0 = newTable }
    }

    /// The current routing snapshot.
    public var currentTable: RoutingTable { table.withLock { $0 } }

    public func models(for principal: Principal) -> [ModelInfo] {
        currentTable.models.keys.sorted().filter { principal.mayUse(model: $0) }.map { ModelInfo(id: $0) }
    }

    public func recordRejected(_ rejection: RejectedRequest) async {
        await logSink.record(
            RequestLogEntry(
                requestID: rejection.requestID, timestampMillis: rejection.receivedAtMillis,
                keyID: rejection.principal.keyID, keyName: rejection.principal.name, apiStyle: rejection.style.rawValue,
                model: rejection.model ?? "", stream: rejection.stream, status: rejection.error.status, attempts: 0,
                latencyMillis: LogBuilder.millis(rejection.receivedAt.duration(to: clock.now)),
                errorMessage: Redaction.scrub(rejection.error.message)))
    }

    // MARK: Chat

    public func chat(_ request: InboundRequest, principal: Principal, logger: Logger) async throws(GatewayError)
        -> ChatResult
    {
        var log = LogBuilder(request: request, principal: principal, clock: clock, maxBodyBytes: configuration.maxLoggedBodyBytes)
        do {
            let plan = try plan(request, principal: principal)
            return try await execute(request, plan: plan, log: &log, logger: logger)
        } catch {
            await logSink.record(log.finish(status: error.status, error: error))
            if error.status >= 500 {
                logger.warning("request failed", metadata: ["status": "\(error.status)", "error": "\(error.message)"])
            }
            throw error
        }
    }

    /// The ordered targets to try for a request.
    struct Plan {
        var candidates: [(target: TargetConfig, provider: RoutingTable.Provider)]
        var model: ModelConfig?
    }

    private func plan(_ request: InboundRequest, principal: Principal) throws(GatewayError) -> Plan {
        let requested = request.chat.model
        let table = self.table.withLock { $0 }
        guard let resolved = table.resolve(requested) else { throw .modelNotFound(requested) }
        guard principal.mayUse(model: requested) else {
            throw .forbidden("This API key may not use the model `\(requested)`.", code: "model_not_allowed")
        }
        let needed = request.chat.requiredCapabilities
        var eligible: [(index: Int, target: TargetConfig)] = []
        var missing: Set<Capability> = []
        for (index, target) in resolved.targets.enumerated() {
            if let capabilities = target.capabilities, !needed.isSubset(of: capabilities) {
                missing.formUnion(needed.subtracting(capabilities))
                continue
            }
            eligible.append((index, target))
        }
        if eligible.isEmpty, !missing.isEmpty {
            let names = missing.map(\.rawValue).sorted().joined(separator: ", ")
            throw .invalidRequest(
                "No target of model `\(requested)` supports what this request needs: \(names).",
                param: missing.contains(.tools) ? "tools" : missing.contains(.json) ? "response_format" : "messages",
                code: "unsupported_capability")
        }
        let strategy = resolved.model?.strategy ?? configuration.routing.strategy
        var rng = SystemRandomNumberGenerator()
        let ordered =
            resolved.balancer?.order(
                eligible, strategy: strategy,
                latency: { [latencyOf] in latencyOf(TargetID(provider: $0.provider, upstreamModel: $0.model)) },
                random: &rng) ?? eligible.map(\.target)
        let candidates = ordered.compactMap { target -> (TargetConfig, RoutingTable.Provider)? in
            guard let provider = table.providers[target.provider], provider.config.enabled else { return nil }
            return (target, provider)
        }
        if candidates.isEmpty { throw .noAvailableTarget(requested) }
        return Plan(candidates: candidates, model: resolved.model)
    }

    private func execute(_ request: InboundRequest, plan: Plan, log: inout LogBuilder, logger: Logger)
        async throws(GatewayError) -> ChatResult
    {
        let routing = configuration.routing
        let deadline = request.receivedAt.advanced(by: .milliseconds(Int64(routing.timeoutSeconds * 1000)))
        var failures: [GatewayError] = []
        var deadlinePassed = false
        var attempt = 0
        var candidateIndex = 0
        var skippedUnavailable = 0
        while attempt < max(1, routing.maxAttempts) {
            if clock.now >= deadline {
                deadlinePassed = true
                break
            }
            let (target, provider) = plan.candidates[candidateIndex % plan.candidates.count]
            candidateIndex += 1
            let targetID = TargetID(provider: target.provider, upstreamModel: target.model)
            if !health.isAvailable(targetID, now: clock.now) {
                skippedUnavailable += 1
                if skippedUnavailable >= plan.candidates.count && attempt == 0 {
                    throw .noAvailableTarget(request.chat.model)
                }
                if candidateIndex >= plan.candidates.count * 2 { break }
                continue
            }
            if attempt > 0 {
                try await backoff(attempt: attempt, retryAfter: failures.last?.retryAfterSeconds, deadline: deadline)
            }
            attempt += 1
            log.attempts = attempt
            log.provider = target.provider
            log.upstreamModel = target.model
            log.price = target.price ?? plan.model?.price
            let key = provider.keys.acquire()
            var attemptLogger = logger
            attemptLogger[metadataKey: "provider"] = "\(target.provider)"
            attemptLogger[metadataKey: "attempt"] = "\(attempt)"
            let perAttempt = clock.now.advanced(by: .milliseconds(Int64(provider.config.timeoutSeconds * 1000)))
            let call = ProviderCall(
                request: request, provider: provider.config, target: target, apiKey: key?.secret,
                deadline: min(deadline, perAttempt), logger: attemptLogger)
            let started = clock.now
            do {
                if request.chat.isStreaming {
                    let stream = try await provider.adapter.stream(call)
                    let opened = try await StreamOpening.open(stream)
                    health.recordSuccess(targetID, latency: started.duration(to: clock.now), now: clock.now)
                    return .stream(makeStream(opened, log: log, releaseKey: { if let key { provider.keys.release(key.index) } }))
                } else {
                    let completion = try await provider.adapter.complete(call)
                    if let key { provider.keys.release(key.index) }
                    health.recordSuccess(targetID, latency: started.duration(to: clock.now), now: clock.now)
                    log.upstreamRequestID = completion.upstreamRequestID
                    log.usage = completion.usage
                    log.tokensEstimated = completion.usageEstimated
                    log.captureResponse(completion.body)
                    await logSink.record(log.finish(status: 200, error: nil))
                    return .completion(completion.body)
                }
            } catch {
                if let key { provider.keys.release(key.index) }
                if error == .clientClosedRequest || Task.isCancelled { throw .clientClosedRequest }
                health.recordFailure(targetID, error: error, now: clock.now)
                attemptLogger.notice(
                    "upstream attempt failed",
                    metadata: ["status": "\(error.status)", "retryable": "\(error.isRetryable)", "error": "\(error.message)"])
                failures.append(error)
                if !error.isRetryable { throw error }
            }
        }
        if clock.now >= deadline { deadlinePassed = true }
        throw GatewayError.exhausted(failures, deadlinePassed: deadlinePassed, model: request.chat.model)
    }

    /// Exponential backoff with full jitter, honouring `Retry-After` when it fits the deadline.
    private func backoff(attempt: Int, retryAfter: Int?, deadline: ContinuousClock.Instant) async throws(GatewayError) {
        let routing = configuration.routing
        var delay: Duration
        if let retryAfter, retryAfter > 0 {
            delay = .seconds(retryAfter)
        } else {
            let cap = min(routing.backoffMaxMs, routing.backoffInitialMs << min(attempt - 1, 16))
            delay = .milliseconds(Int.random(in: 0...max(0, cap)))
        }
        let wakeAt = clock.now.advanced(by: delay)
        if wakeAt >= deadline {
            // Waiting would spend the whole budget: try the next target at once instead.
            return
        }
        do {
            try await clock.sleep(until: wakeAt)
        } catch {
            throw .clientClosedRequest
        }
    }

    // MARK: Streams

    private func makeStream(_ opened: StreamOpening, log: LogBuilder, releaseKey: @escaping @Sendable () -> Void) -> ChatStream {
        let logSink = self.logSink
        let clock = self.clock
        return ChatStream { emit in
            var log = log
            defer { releaseKey() }
            log.upstreamRequestID = opened.upstreamRequestID
            var outputChars = 0
            var failure: GatewayError?
            var clientError: (any Error)?
            do {
                var iterator = opened.take()
                while let event = try await iterator.next() {
                    switch event {
                    case .usage(let usage):
                        log.usage = usage
                    case .outputText(let count):
                        outputChars += count
                    case .part(let part):
                        if log.firstTokenAt == nil { log.firstTokenAt = clock.now }
                        do {
                            try await emit(part)
                        } catch {
                            clientError = error
                            break
                        }
                    }
                    if clientError != nil { break }
                }
            } catch let error as GatewayError {
                failure = error
            } catch is CancellationError {
                clientError = CancellationError()
            } catch {
                failure = .internalError()
            }
            let cutShort = clientError != nil || failure != nil
            if cutShort || log.usage == nil {
                // No final usage from the upstream: estimate from what was seen, so
                // budgets and limits still count it, and flag the row as estimated.
                let seen = TokenEstimator.tokens(forCharacters: outputChars)
                log.usage = Usage(
                    promptTokens: log.usage?.promptTokens ?? TokenEstimator.promptTokens(log.chat),
                    completionTokens: max(log.usage?.completionTokens ?? 0, seen))
                log.tokensEstimated = true
            }
            if let clientError {
                await logSink.record(log.finish(status: 499, error: .clientClosedRequest))
                throw clientError
            }
            if let failure {
                await logSink.record(log.finish(status: failure.asFinalClientError.status, error: failure))
                throw failure
            }
            await logSink.record(log.finish(status: 200, error: nil))
        }
    }
}

/// A provider stream whose first client-visible event has already arrived, so that a
/// stream which fails before producing anything can still fail over.
final class StreamOpening: @unchecked Sendable {
    // Handed from the routing task to the stream's consumer exactly once; never shared.
    private var iterator: ErasedAsyncSequence<ProviderStreamEvent>.Iterator?
    private var buffered: [ProviderStreamEvent]
    let upstreamRequestID: String?

    private init(iterator: ErasedAsyncSequence<ProviderStreamEvent>.Iterator, buffered: [ProviderStreamEvent], upstreamRequestID: String?) {
        self.iterator = iterator
        self.buffered = buffered
        self.upstreamRequestID = upstreamRequestID
    }

    static func open(_ stream: ProviderStream) async throws(GatewayError) -> StreamOpening {
        var iterator = stream.events.makeAsyncIterator()
        var buffered: [ProviderStreamEvent] = []
        do {
            while let event = try await iterator.next() {
                buffered.append(event)
                if case .part = event { break }
            }
        } catch let error as GatewayError {
            throw error
        } catch is CancellationError {
            throw .clientClosedRequest
        } catch {
            throw .internalError()
        }
        return StreamOpening(iterator: iterator, buffered: buffered, upstreamRequestID: stream.upstreamRequestID)
    }

    /// The events: the buffered ones first, then the rest of the upstream.
    func take() -> Events {
        let events = Events(buffered: buffered, iterator: iterator)
        iterator = nil
        buffered = []
        return events
    }

    struct Events {
        var buffered: [ProviderStreamEvent]
        var iterator: ErasedAsyncSequence<ProviderStreamEvent>.Iterator?

        mutating func next() async throws -> ProviderStreamEvent? {
            if !buffered.isEmpty { return buffered.removeFirst() }
            return try await iterator?.next()
        }
    }
}

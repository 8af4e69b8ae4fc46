public import Logging
import Metrics
import NIOCore
public import OrchestratorCore
import Synchronization
import Foundation

/// The routing engine behind the ``ChatService`` façade.
///
/// For each request it resolves the model, orders the candidate targets (priority tiers,
/// then the routing strategy), skips open circuits and targets lacking a needed
/// capability, calls the provider adapter, and on a retryable failure before the first
/// byte reached the client backs off and fails over to the next candidate, within
/// `max_attempts` and the request deadline. Every request ends in exactly one
/// request-log row.
public final class GatewayEngine: ChatService, HealthReporting {
    public struct Configuration: Sendable {
        public var routing: RoutingSettings
        /// How much of a body is kept in the log for keys with `log_bodies`.
        public var maxLoggedBodyBytes = 64 * 1024
        /// How long a key rests after a 429 that gave no `Retry-After`.
        public var defaultKeyCooldown: Duration = .seconds(5)

        public init(routing: RoutingSettings = .init()) {
            self.routing = routing
        }
    }

    private let table: Mutex<RoutingTable>
    private let configuration: Configuration
    public let health: HealthMonitor
    private let logSink: any RequestLogSink
    private let clock: any GatewayClock
    private let random: any RandomSource
    private let overheadTimer = Timer(label: "orchestrator_overhead_seconds")
    private let metrics = RequestMetrics()
    /// Client keys' rate limits, concurrency and budgets.
    public let limiter: KeyLimiter
    /// Providers' own `rpm`/`tpm` caps (upstream account limits).
    let providerLimiter: KeyLimiter

    /// - Parameters:
    ///   - table: the initial routing snapshot.
    ///   - health: the health monitor consulted and fed on every attempt.
    ///   - logSink: where request-log rows go.
    ///   - clock: time for deadlines, backoff and latency (inject a manual one in tests).
    ///   - random: randomness for balancing and backoff jitter (inject a seeded one in tests).
    ///   - limiter: client keys' limits (one is made on `clock` when not given).
    public init(
        table: RoutingTable, configuration: Configuration, health: HealthMonitor, logSink: any RequestLogSink,
        clock: any GatewayClock = SystemClock(), random: any RandomSource = FastRandomSource(), limiter: KeyLimiter? = nil
    ) {
        self.limiter = limiter ?? KeyLimiter(clock: clock)
        self.providerLimiter = KeyLimiter(clock: clock)
        self.table = Mutex(table)
        self.configuration = configuration
        self.health = health
        self.logSink = logSink
        self.clock = clock
        self.random = random
    }

    func clockNow() -> ContinuousClock.Instant { clock.now }

    /// Every request's row: counted in the metrics and against the key's limits (which
    /// frees its concurrency slot), then queued for the log.
    private func record(_ log: LogBuilder, status: Int, error: GatewayError?) async {
        await Self.record(log, status: status, error: error, into: logSink, metrics: metrics)
    }

    /// The row of a finished request, counted in the metrics and against the key's and
    /// the provider's limits (which frees the key's concurrency slot), then queued.
    private static func record(
        _ log: LogBuilder, status: Int, error: GatewayError?, into sink: any RequestLogSink, metrics: RequestMetrics
    ) async {
        let entry = log.finish(status: status, error: error)
        metrics.record(entry)
        log.settleAdmissions()
        await sink.record(entry)
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
        let entry =
            RequestLogEntry(
                requestID: rejection.requestID, timestampMillis: rejection.receivedAtMillis,
                keyID: rejection.principal.keyID, keyName: rejection.principal.name, apiStyle: rejection.style.rawValue,
                model: rejection.model ?? "", stream: rejection.stream, status: rejection.error.status, attempts: 0,
                latencyMillis: rejection.receivedAt.duration(to: clock.now).totalMilliseconds,
                errorMessage: Redaction.scrub(rejection.error.message))
        metrics.record(entry)
        await logSink.record(entry)
    }

    // MARK: Chat

    public func chat(_ request: InboundRequest, principal: Principal, logger: Logger) async throws(GatewayError)
        -> ChatResult
    {
        try await chat(request, principal: principal, logger: logger) { _, _ in }
    }

    public func chat(_ request: InboundRequest, principal: Principal, logger: Logger, deliver: CompletionDelivery)
        async throws(GatewayError) -> ChatResult
    {
        var log = LogBuilder(request: request, principal: principal, clock: clock, maxBodyBytes: configuration.maxLoggedBodyBytes)
        do {
            let plan = try plan(request, principal: principal)
            // After the plan, so an unknown model or a refused one costs the key nothing.
            log.admission = try limiter.admit(principal) { TokenEstimator.promptTokens(request.chat) }
            return try await execute(request, plan: plan, log: &log, logger: logger, deliver: deliver)
        } catch {
            await record(log, status: error.status, error: error)
            if error.status >= 500 {
                logger.warning("request failed", metadata: ["status": "\(error.status)", "error": "\(error.message)"])
            }
            throw error
        }
    }

    public func countTokens(_ request: InboundRequest, principal: Principal, logger: Logger) async throws(GatewayError)
        -> Int
    {
        let plan = try plan(request, principal: principal)
        let routing = configuration.routing
        let deadline = clock.now.advanced(by: .milliseconds(Int64(min(routing.timeoutSeconds, 30) * 1000)))
        for candidate in plan.candidates.prefix(max(1, routing.maxAttempts)) {
            guard health.isAvailable(candidate.id, now: clock.now),
                let lease = lease(candidate)
            else { continue }
            let call = ProviderCall(
                request: request, provider: candidate.provider.config, target: candidate.target, apiKey: lease?.secret,
                deadline: deadline, logger: logger)
            do {
                let count = try await candidate.provider.adapter.countTokens(call)
                candidate.release(lease)
                if let count { return count }
            } catch let raw {
                // An upstream may echo the key it was sent; it never goes further.
                let error = raw.redacting(lease?.secret)
                candidate.release(lease)
                if error == .clientClosedRequest || Task.isCancelled { throw .clientClosedRequest }
                // The client's own mistake (a 400 from the counter) goes back to it.
                if !error.isRetryable { throw error }
                noteFailure(error, candidate: candidate, lease: lease)
                logger.notice(
                    "upstream token count failed; trying the next target or estimating",
                    metadata: ["provider": "\(candidate.target.provider)", "error": "\(error.message)"])
            }
        }
        return TokenEstimator.inputTokens(request.chat)
    }

    /// The ordered targets to try for a request.
    struct Plan {
        var candidates: [Candidate]
        /// The model entry's price, which a target without its own uses.
        var modelPrice: Price?
    }

    private func plan(_ request: InboundRequest, principal: Principal) throws(GatewayError) -> Plan {
        let requested = request.chat.model
        let table = self.table.withLock { $0 }
        guard let resolved = table.resolve(requested) else { throw .modelNotFound(requested) }
        guard principal.mayUse(model: requested) else {
            throw .forbidden("This API key may not use the model `\(requested)`.", code: "model_not_allowed")
        }
        let needed = request.chat.requiredCapabilities
        // Indices into the model's targets; the targets themselves are not copied.
        var eligible: [Int] = []
        var missing: Set<Capability> = []
        for index in resolved.targets.indices {
            if let capabilities = resolved.targets[index].capabilities, !needed.isSubset(of: capabilities) {
                missing.formUnion(needed.subtracting(capabilities))
                continue
            }
            eligible.append(index)
        }
        if eligible.isEmpty, !missing.isEmpty {
            let names = missing.map(\.rawValue).sorted().joined(separator: ", ")
            throw .invalidRequest(
                "No target of model `\(requested)` supports what this request needs: \(names).",
                param: missing.contains(.tools) ? "tools" : missing.contains(.json) ? "response_format" : "messages",
                code: "unsupported_capability")
        }
        // One target (the common case) has one order whatever the strategy.
        if eligible.count > 1, let balancer = resolved.balancer {
            let strategy = resolved.strategy ?? configuration.routing.strategy
            var rng = RandomSourceGenerator(random)
            let health = self.health
            let positions = balancer.positions(
                eligible.map { (index: $0, target: resolved.targets[$0]) }, strategy: strategy,
                latency: { health.averageLatency(TargetID(provider: $0.provider, upstreamModel: $0.model)) },
                random: &rng)
            eligible = positions.map { eligible[$0] }
        }
        let operation = request.operation
        var unsupported = false
        var refusal: GatewayError?
        var candidates: [Candidate] = []
        candidates.reserveCapacity(eligible.count)
        for index in eligible {
            // nil: the target's provider is not routable in this table.
            guard let candidate = resolved.candidates[index] else { continue }
            let adapter = candidate.provider.adapter
            guard adapter.supports(operation) else {
                unsupported = true
                continue
            }
            if let refused = adapter.refusal(of: request) {
                refusal = refusal ?? refused
                continue
            }
            candidates.append(candidate)
        }
        if candidates.isEmpty {
            if let refusal { throw refusal }
            if unsupported { throw .unsupportedOperation(operation, model: requested) }
            throw .noAvailableTarget(requested)
        }
        return Plan(candidates: candidates, modelPrice: resolved.price)
    }

    /// The attempt loop's state across its awaits.
    ///
    /// `execute` keeps this and the current ``Attempt`` across its suspensions and does
    /// the work between them in the synchronous methods below. An async function's
    /// frame has room for every value it might keep across a suspension on any path
    /// (retries, failover, errors, streams), and a delayed request's frames are memory it
    /// touches again, cold, when its upstream answers; the loop written inline made an
    /// 11 KB frame and two dozen task allocations per request. Temporaries of the
    /// synchronous steps live on the thread's stack instead.
    private struct AttemptLoop {
        let candidates: [Candidate]
        let deadline: ContinuousClock.Instant
        var failures: [GatewayError] = []
        var attempt = 0
        var cursor = 0
        var lastTried: Int?
        var lastKeyID: String?
        var panicked = false
        /// Candidates whose provider is at its own rpm/tpm cap: skipped for this request.
        var capped = Set<Int>()
        /// Time spent waiting for upstreams so far.
        var upstreamWait = Duration.zero

        init(candidates: [Candidate], deadline: ContinuousClock.Instant) {
            self.candidates = candidates
            self.deadline = deadline
        }
    }

    /// A candidate chosen for the next attempt, and its key.
    private struct Choice {
        let candidate: Candidate
        let lease: KeyPool.Lease?
        /// The same target and key as the attempt before (whose `Retry-After` then applies).
        let sameTarget: Bool
    }

    /// An attempt under way.
    private struct Attempt {
        let candidate: Candidate
        let lease: KeyPool.Lease?
        let call: ProviderCall
        let started: ContinuousClock.Instant
        let number: Int
    }

    private func execute(
        _ request: InboundRequest, plan: Plan, log: inout LogBuilder, logger: Logger, deliver: CompletionDelivery
    ) async throws(GatewayError) -> ChatResult
    {
        var loop = try startLoop(request, plan: plan)
        while let choice = choose(&loop, request: request, log: &log) {
            if loop.attempt > 0 {
                // An upstream's Retry-After speaks for the target and key that got it: it
                // is honoured when retrying with both, not when failing over (a 429's key
                // rests for that long instead).
                let retryAfter = choice.sameTarget ? loop.failures.last?.retryAfterSeconds : nil
                do {
                    try await backoff(attempt: loop.attempt, retryAfter: retryAfter, deadline: loop.deadline)
                } catch {
                    choice.candidate.release(choice.lease)
                    throw error
                }
            }
            let attempt = begin(choice, in: &loop, request: request, plan: plan, log: &log, logger: logger)
            do {
                if request.chat.isStreaming {
                    let stream = try await attempt.candidate.provider.adapter.stream(attempt.call)
                    let opened = try await StreamOpening.open(stream)
                    return streamOpened(opened, attempt, loop: &loop, request: request, log: &log)
                }
                let completion = try await attempt.candidate.provider.adapter.complete(attempt.call)
                let route = completed(completion, attempt, loop: &loop, request: request, log: &log)
                // The caller has the answer before the row and the metrics are done.
                await deliver(completion.body, route)
                await record(log, status: 200, error: nil)
                return .completion(completion.body, route)
            } catch let raw {
                try failed(raw, attempt, loop: &loop, log: &log, logger: logger)
            }
        }
        throw exhausted(loop, model: request.chat.model)
    }

    /// The loop's start: the deadline, and a 429 or 503 at once when no candidate has a
    /// usable key.
    private func startLoop(_ request: InboundRequest, plan: Plan) throws(GatewayError) -> AttemptLoop {
        let routing = configuration.routing
        let deadline = request.receivedAt.advanced(by: .milliseconds(Int64(routing.timeoutSeconds * 1000)))
        let candidates = plan.candidates
        if !candidates.contains(where: hasUsableKey) {
            throw allKeysUnavailable(candidates, model: request.chat.model, now: clock.now)
        }
        return AttemptLoop(candidates: candidates, deadline: deadline)
    }

    /// The candidate for the next attempt and its key, admitted by its provider's caps;
    /// nil when attempts, time or candidates have run out.
    private func choose(_ loop: inout AttemptLoop, request: InboundRequest, log: inout LogBuilder) -> Choice? {
        while loop.attempt < max(1, configuration.routing.maxAttempts) {
            if clock.now >= loop.deadline { return nil }
            // With every circuit open, still try the likeliest target ("panic" routing,
            // as load balancers do) rather than fail unseen; if that fails too, 503.
            var next = nextCandidate(loop.candidates, from: loop.cursor, avoiding: loop.lastTried, excluding: loop.capped)
            if next == nil {
                next = panicCandidate(loop.candidates, excluding: loop.capped)
                if next != nil { loop.panicked = true }
            }
            guard let (index, lease) = next else { return nil }
            let sameTarget = index == loop.lastTried && lease?.id == loop.lastKeyID
            loop.cursor = index + 1
            loop.lastTried = index
            loop.lastKeyID = lease?.id
            let candidate = loop.candidates[index]
            // The provider's own caps (its account's limits upstream): at one, try
            // another target; a refusal costs nothing and is not an attempt.
            if let caps = candidate.provider.caps {
                do {
                    log.providerAdmission = try providerLimiter.admit(caps) { TokenEstimator.promptTokens(request.chat) }
                } catch {
                    candidate.release(lease)
                    loop.capped.insert(index)
                    loop.failures.append(Self.atProviderCap(error, provider: candidate.target.provider))
                    continue
                }
            } else {
                log.providerAdmission = nil
            }
            return Choice(candidate: candidate, lease: lease, sameTarget: sameTarget)
        }
        return nil
    }

    /// Counts an attempt and makes its call.
    private func begin(
        _ choice: Choice, in loop: inout AttemptLoop, request: InboundRequest, plan: Plan, log: inout LogBuilder,
        logger: Logger
    ) -> Attempt {
        let candidate = choice.candidate
        loop.attempt += 1
        log.attempts = loop.attempt
        log.provider = candidate.target.provider
        log.upstreamModel = candidate.target.model
        log.price = candidate.target.price ?? plan.modelPrice
        // The attempt's own lines below carry its provider and attempt number. The
        // logger handed to the adapter gets them as metadata only when it can log at
        // all: the transports log at debug level, and each metadata write copies the
        // handler and its dictionary, for every request.
        var attemptLogger = logger
        if logger.logLevel <= .debug {
            attemptLogger[metadataKey: "provider"] = "\(candidate.target.provider)"
            attemptLogger[metadataKey: "attempt"] = "\(loop.attempt)"
        }
        let started = clock.now
        let perAttempt = started.advanced(by: .milliseconds(Int64(candidate.provider.config.timeoutSeconds * 1000)))
        let call = ProviderCall(
            request: request, provider: candidate.provider.config, target: candidate.target, apiKey: choice.lease?.secret,
            deadline: min(loop.deadline, perAttempt), logger: attemptLogger)
        return Attempt(candidate: candidate, lease: choice.lease, call: call, started: started, number: loop.attempt)
    }

    /// The route reported with an attempt's answer, with the gateway's own time until
    /// then (recorded in the overhead timer too).
    private func route(of attempt: Attempt, log: LogBuilder, request: InboundRequest, upstreamWait: Duration) -> RouteInfo {
        var route = RouteInfo(provider: attempt.candidate.target.provider, upstreamModel: attempt.candidate.target.model, attempts: attempt.number)
        route.rateLimit = log.admission?.status
        route.overhead = overhead(request, waiting: upstreamWait)
        overheadTimer.recordNanoseconds(route.overhead.totalNanoseconds)
        return route
    }

    /// A stream's first event arrived: the stream that relays it, and logs and frees the
    /// key when it ends.
    private func streamOpened(
        _ opened: StreamOpening, _ attempt: Attempt, loop: inout AttemptLoop, request: InboundRequest, log: inout LogBuilder
    ) -> ChatResult {
        let candidate = attempt.candidate
        let lease = attempt.lease
        succeeded(attempt, loop: &loop, log: &log)
        let route = route(of: attempt, log: log, request: request, upstreamWait: loop.upstreamWait)
        let health = self.health
        let clock = self.clock
        let target = candidate.id
        return .stream(
            makeStream(
                opened, log: log, secret: lease?.secret,
                releaseKey: { candidate.release(lease) },
                onUpstreamFailure: { health.recordFailure(target, error: $0, now: clock.now) }),
            route)
    }

    /// A completion arrived: the upstream key and the client key's and provider's slots
    /// go back (before the caller has the answer, so that its next request finds them),
    /// the attempt is noted; its route.
    private func completed(
        _ completion: ProviderCompletion, _ attempt: Attempt, loop: inout AttemptLoop, request: InboundRequest,
        log: inout LogBuilder
    ) -> RouteInfo {
        attempt.candidate.release(attempt.lease)
        succeeded(attempt, loop: &loop, log: &log)
        log.upstreamRequestID = completion.upstreamRequestID
        log.usage = completion.usage
        log.tokensEstimated = completion.usageEstimated
        log.settleAdmissions()
        log.captureResponse(completion.body)
        return route(of: attempt, log: log, request: request, upstreamWait: loop.upstreamWait)
    }

    /// An attempt answered: its wait, its target's health and its line in the row.
    private func succeeded(_ attempt: Attempt, loop: inout AttemptLoop, log: inout LogBuilder) {
        let answered = clock.now
        let latency = attempt.started.duration(to: answered)
        loop.upstreamWait += latency
        health.recordSuccess(attempt.candidate.id, latency: latency, now: answered)
        log.recordAttempt(attempt.candidate.target, keyID: attempt.lease?.id, status: 200, error: nil, latency: latency)
    }

    /// A failed attempt: noted, logged, and thrown on when it may not be retried.
    private func failed(
        _ raw: GatewayError, _ attempt: Attempt, loop: inout AttemptLoop, log: inout LogBuilder, logger: Logger
    ) throws(GatewayError) {
        let candidate = attempt.candidate
        let lease = attempt.lease
        // An upstream may echo the key it was sent; it never goes further.
        let error = raw.redacting(lease?.secret)
        candidate.release(lease)
        // The attempt's share of its provider's caps: the estimate is given back.
        log.providerAdmission?.settle(tokens: 0, costMicros: 0)
        log.providerAdmission = nil
        loop.upstreamWait += attempt.started.duration(to: clock.now)
        if error == .clientClosedRequest || Task.isCancelled { throw .clientClosedRequest }
        log.recordAttempt(
            candidate.target, keyID: lease?.id, status: error.status, error: error.message,
            latency: attempt.started.duration(to: clock.now))
        noteFailure(error, candidate: candidate, lease: lease)
        logger.notice(
            "upstream attempt failed",
            metadata: [
                "provider": "\(candidate.target.provider)", "attempt": "\(attempt.number)", "status": "\(error.status)",
                "retryable": "\(error.isRetryable)", "error": "\(error.message)",
            ])
        loop.failures.append(error)
        if !error.isRetryable { throw error }
    }

    /// What a request that ran out of attempts, time or candidates answers.
    private func exhausted(_ loop: AttemptLoop, model: String) -> GatewayError {
        let deadlinePassed = clock.now >= loop.deadline
        if loop.panicked && !deadlinePassed && !loop.failures.allSatisfy({ $0.status == 429 }), let last = loop.failures.last {
            var unavailable = GatewayError.noAvailableTarget(model)
            unavailable.message += " Last error: \(last.message)"
            return unavailable
        }
        return GatewayError.exhausted(loop.failures, deadlinePassed: deadlinePassed, model: model)
    }

    /// The gateway's own time so far: everything but the upstream's.
    private func overhead(_ request: InboundRequest, waiting upstreamWait: Duration) -> Duration {
        max(.zero, request.receivedAt.duration(to: clock.now) - upstreamWait)
    }

    /// The next candidate to try: from `cursor` on in plan order, admitted by its
    /// circuit and with a usable key, and not the one just tried while another qualifies.
    private func nextCandidate(
        _ candidates: [Candidate], from cursor: Int, avoiding last: Int?, excluding skipped: Set<Int>
    ) -> (Int, KeyPool.Lease?)? {
        // Walked in place (no index arrays: this runs for every attempt).
        func admitted(_ index: Int) -> KeyPool.Lease?? {
            let candidate = candidates[index]
            guard hasUsableKey(candidate), health.isAvailable(candidate.id, now: clock.now) else { return nil }
            return lease(candidate)
        }
        let count = candidates.count
        var lastTried: Int?
        for step in 0..<count {
            let index = (cursor + step) % count
            if skipped.contains(index) { continue }
            if count > 1, index == last {
                lastTried = index
                continue
            }
            if let lease = admitted(index) { return (index, lease) }
        }
        if let index = lastTried, let lease = admitted(index) { return (index, lease) }
        return nil
    }

    /// With no circuit admitting a request: the candidate with a usable key whose recent
    /// success rate is highest (plan order breaks ties), ignoring its circuit.
    private func panicCandidate(_ candidates: [Candidate], excluding skipped: Set<Int>) -> (Int, KeyPool.Lease?)? {
        let ranked = candidates.indices.filter { !skipped.contains($0) }.sorted { a, b in
            let ra = health.snapshot(candidates[a].id).successRate ?? 0
            let rb = health.snapshot(candidates[b].id).successRate ?? 0
            return ra != rb ? ra > rb : a < b
        }
        for index in ranked {
            let candidate = candidates[index]
            if let lease = lease(candidate) { return (index, lease) }
        }
        return nil
    }

    /// A provider's own cap refused an attempt: a retryable 429 naming the provider (the
    /// client's request is fine; another target, or a later retry, may serve it).
    static func atProviderCap(_ refusal: GatewayError, provider: String) -> GatewayError {
        let which = refusal.code == "tokens_limit_exceeded" ? "tokens-per-minute cap (the request alone exceeds it)" : "configured rpm/tpm cap"
        return GatewayError(
            status: 429, type: "rate_limit_error", code: "upstream_rate_limited",
            message: "Provider \(provider) is at its \(which).", retryAfterSeconds: refusal.retryAfterSeconds,
            isRetryable: true)
    }

    /// Whether `candidate`'s provider has a key that may be used now (not resting, not
    /// refused), or needs none.
    /// (While no key rests anywhere, every key may be used: asked without making a key
    /// reference, which copied the provider's name and the key's id for every key.)
    private func hasUsableKey(_ candidate: Candidate) -> Bool {
        guard health.hasRestrictedKeys else { return candidate.provider.keys.hasUsableKey { _ in true } }
        let now = clock.now
        return candidate.provider.keys.hasUsableKey { health.isKeyUsable(candidate.keyRef($0), now: now) }
    }

    /// Takes a key for `candidate`: `.some(nil)` when the provider has no keys, nil when
    /// every key is resting or disabled.
    private func lease(_ candidate: Candidate) -> KeyPool.Lease?? {
        let usable: (String) -> Bool
        if health.hasRestrictedKeys {
            let (health, now) = (self.health, clock.now)
            usable = { health.isKeyUsable(candidate.keyRef($0), now: now) }
        } else {
            usable = { _ in true }
        }
        switch candidate.provider.keys.acquire(usable: usable) {
        case .noKeys: return .some(nil)
        case .key(let lease): return .some(lease)
        case .allUnavailable: return nil
        }
    }

    /// Feeds a failed attempt to the health monitor: 429 rests the key, 401/403
    /// disables it, and failures of the target itself count against its circuit.
    private func noteFailure(_ error: GatewayError, candidate: Candidate, lease: KeyPool.Lease?) {
        let now = clock.now
        if let lease {
            switch error.upstreamStatus {
            case 429?:
                let rest = error.retryAfterSeconds.map { Duration.seconds($0) } ?? configuration.defaultKeyCooldown
                health.coolDownKey(candidate.keyRef(lease.id), until: now.advanced(by: rest), reason: error.message)
            case 401?, 403?:
                health.disableKey(candidate.keyRef(lease.id), reason: error.message, now: now)
            default:
                break
            }
        }
        health.recordFailure(candidate.id, error: error, now: now)
    }

    /// Every candidate's keys are resting or disabled: 429 when some rest (with when
    /// to come back), else 503.
    private func allKeysUnavailable(_ candidates: [Candidate], model: String, now: ContinuousClock.Instant) -> GatewayError {
        let refs = candidates.flatMap { candidate in candidate.provider.keys.keys.map { candidate.keyRef($0.id) } }
        guard let wait = health.shortestCooldown(refs, now: now) else {
            var error = GatewayError.noAvailableTarget(model)
            error.message += " No upstream key is usable (refused by the provider or switched off)."
            return error
        }
        let seconds = max(1, Int(wait.totalSeconds.rounded(.up)))
        return GatewayError(
            status: 429, type: "rate_limit_error", code: "upstream_rate_limited",
            message: "Every upstream key for model `\(model)` is rate limited; retry in \(seconds)s.",
            retryAfterSeconds: seconds)
    }

    /// Exponential backoff with full jitter, honouring `Retry-After` when it fits the deadline.
    private func backoff(attempt: Int, retryAfter: Int?, deadline: ContinuousClock.Instant) async throws(GatewayError) {
        var delay = Backoff.delay(
            attempt: attempt, retryAfterSeconds: retryAfter, initialMs: configuration.routing.backoffInitialMs,
            maxMs: configuration.routing.backoffMaxMs, random: random)
        if retryAfter != nil, clock.now.advanced(by: delay) >= deadline {
            // A Retry-After beyond the deadline cannot be honoured: fall back to the
            // ordinary jittered delay rather than retrying at once.
            delay = Backoff.delay(
                attempt: attempt, retryAfterSeconds: nil, initialMs: configuration.routing.backoffInitialMs,
                maxMs: configuration.routing.backoffMaxMs, random: random)
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

    // MARK: Health report

    public func healthReport() -> HealthReport {
        let table = currentTable
        let now = clock.now
        let configured = table.configuredTargets
        var providers: [HealthReport.Provider] = []
        for config in table.configuredProviders {
            let routable = table.providers[config.name] != nil
            var targets = configured.filter { $0.provider == config.name }
            for extra in health.knownTargets(of: config.name) where !targets.contains(extra) { targets.append(extra) }
            let targetReports = targets.map { id -> HealthReport.Target in
                let snapshot = health.snapshot(id, now: now)
                return HealthReport.Target(
                    provider: id.provider, model: id.upstreamModel, state: snapshot.state.rawValue,
                    consecutiveFailures: snapshot.consecutiveFailures, successRate: snapshot.successRate,
                    latencyP50Ms: snapshot.latencyP50.map(Self.milliseconds), latencyP95Ms: snapshot.latencyP95.map(Self.milliseconds),
                    samples: snapshot.samples, lastError: snapshot.lastError,
                    lastCheckAt: health.lastCheck(config.name).map { Self.rfc3339($0.millis) })
            }
            let keys = (table.providers[config.name]?.keys.keys ?? []).map { key -> HealthReport.Key in
                let snapshot = health.keySnapshot(UpstreamKeyRef(provider: config.name, keyID: key.id), now: now)
                return HealthReport.Key(
                    provider: config.name, id: key.id, last4: key.last4, state: snapshot.state,
                    coolingForMs: snapshot.coolingFor.map { Int64(Self.milliseconds($0)) }, lastError: snapshot.lastError)
            }
            let check = health.lastCheck(config.name)
            providers.append(
                HealthReport.Provider(
                    name: config.name, type: config.type.rawValue, enabled: config.enabled, routable: routable,
                    lastCheckAt: check.map { Self.rfc3339($0.millis) }, lastCheckError: check?.error,
                    targets: targetReports, keys: keys))
        }
        let degraded = providers.contains { $0.targets.contains { $0.state != "closed" } || $0.keys.contains { $0.state != "active" } }
        return HealthReport(status: degraded ? "degraded" : "ok", providers: providers)
    }

    /// Milliseconds, to two decimals.
    static func milliseconds(_ d: Duration) -> Double {
        (d.totalSeconds * 100_000).rounded() / 100
    }

    static func rfc3339(_ millis: Int64) -> String {
        Date(timeIntervalSince1970: Double(millis) / 1000).ISO8601Format()
    }

    // MARK: Streams

    private func makeStream(
        _ opened: StreamOpening, log: LogBuilder, secret: String?, releaseKey: @escaping @Sendable () -> Void,
        onUpstreamFailure: @escaping @Sendable (GatewayError) -> Void
    ) -> ChatStream {
        let logSink = self.logSink
        let clock = self.clock
        let metrics = self.metrics
        @Sendable func record(_ log: LogBuilder, status: Int, error: GatewayError?) async {
            await Self.record(log, status: status, error: error, into: logSink, metrics: metrics)
        }
        return ChatStream(callingAfterLast: { emit, afterLast in
            var log = log
            var keyReleased = false
            defer { if !keyReleased { releaseKey() } }
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
                failure = error.redacting(secret)
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
            if !cutShort {
                // The upstream key and the client key's and provider's slots go back
                // before the client has the end of its response, so that its next
                // request finds them (as a completion's do); the bookkeeping below waits
                // until after it (a client gone by then still cost the whole stream: its
                // usage stands).
                releaseKey()
                keyReleased = true
                log.settleAdmissions()
                do {
                    try await afterLast()
                } catch {
                    clientError = error
                }
            }
            if let clientError {
                await record(log, status: 499, error: .clientClosedRequest)
                throw clientError
            }
            if let failure {
                // A stream that broke after it started still says something about the target.
                onUpstreamFailure(failure)
                await record(log, status: failure.asFinalClientError.status, error: failure)
                throw failure
            }
            await record(log, status: 200, error: nil)
        })
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

public import OrchestratorCore
import Synchronization

/// Enforces each client key's ``KeyLimits`` in memory: requests per minute (GCRA: the
/// key may spend its whole minute in a burst, then one request per `60 s / rpm`), tokens
/// per minute (a bucket of `tpm` refilled continuously, charged the estimated prompt
/// before the call and corrected with the real usage after), requests in progress, and
/// the budget in dollars and tokens per UTC day, month or in total.
///
/// A request is admitted only when every limit allows it, and nothing is charged for one
/// that is refused. Its ``KeyAdmission`` is settled once with what the request used (the
/// engine does it with the request's log row, on every path); the concurrency slot is
/// given back then, or when the admission is dropped unsettled (a stream never started).
///
/// State lives in this process: with several instances each enforces its own share
/// (shared counters need Redis, DESIGN.md §7). Budgets start from the usage stored in
/// the hourly rollups (``seed(keyID:periodStart:micros:tokens:)``).
public final class KeyLimiter: Sendable {
    struct State {
        /// GCRA's theoretical arrival time.
        var tat: ContinuousClock.Instant?
        /// Tokens left in the per-minute bucket (may go below zero after a correction),
        /// as of `tokensAt`.
        var tokens: Double?
        var tokensAt: ContinuousClock.Instant?
        var inFlight = 0
        /// The budget period the spending below belongs to (its start, epoch ms).
        var periodStart: Int64 = .min
        var spentMicros: Int64 = 0
        var spentTokens: Int64 = 0
    }

    private let states = Mutex<[String: State]>([:])
    private let clock: any GatewayClock

    public init(clock: any GatewayClock = SystemClock()) {
        self.clock = clock
    }

    /// Records what a key already spent in the budget period starting at `periodStart`
    /// (from the stored usage, when the gateway starts).
    public func seed(keyID: String, periodStart: Int64, micros: Int64, tokens: Int64) {
        states.withLock { states in
            var state = states[keyID] ?? State()
            state.periodStart = periodStart
            state.spentMicros = micros
            state.spentTokens = tokens
            states[keyID] = state
        }
    }

    /// Admits a request of `principal` or throws the 429 that says which limit it hit.
    /// Nil for a key without limits (nothing to settle).
    ///
    /// - Parameter estimatedTokens: the request's prompt tokens as estimated before the
    ///   call (asked only when the key has a token limit).
    public func admit(_ principal: Principal, estimatedTokens: () -> Int) throws(GatewayError) -> KeyAdmission? {
        let limits = principal.limits
        if limits.isUnlimited { return nil }
        let now = clock.now
        let nowMillis = clock.epochMillis
        let estimate = limits.tpm > 0 ? max(0, estimatedTokens()) : 0
        let outcome = states.withLock { states -> Result<RateLimitStatus?, GatewayError> in
            var state = states[principal.keyID] ?? State()
            let result = Self.admit(&state, limits: limits, estimate: estimate, now: now, nowMillis: nowMillis)
            states[principal.keyID] = state
            return result
        }
        switch outcome {
        case .success(let status):
            return KeyAdmission(limiter: self, keyID: principal.keyID, limits: limits, estimate: estimate, status: status)
        case .failure(let error):
            throw error
        }
    }

    /// The checks, then the charges when every check passed.
    static func admit(
        _ state: inout State, limits: KeyLimits, estimate: Int, now: ContinuousClock.Instant, nowMillis: Int64
    ) -> Result<RateLimitStatus?, GatewayError> {
        // Budget: the period may have turned since the key was last used.
        if limits.budgetMicros > 0 || limits.budgetTokens > 0 {
            rollPeriod(&state, limits: limits, nowMillis: nowMillis)
            let overMoney = limits.budgetMicros > 0 && state.spentMicros >= limits.budgetMicros
            let overTokens = limits.budgetTokens > 0 && state.spentTokens >= limits.budgetTokens
            if overMoney || overTokens {
                let end = limits.budgetPeriod.end(containing: nowMillis)
                let what =
                    overMoney
                    ? "its budget of $\(Double(limits.budgetMicros) / 1_000_000)"
                    : "its budget of \(limits.budgetTokens) tokens"
                let period = limits.budgetPeriod == .total ? "" : " for this \(limits.budgetPeriod == .daily ? "day" : "month") (UTC)"
                return .failure(
                    GatewayError(
                        status: 429, type: "insufficient_quota", code: "insufficient_quota",
                        message: "This API key has used \(what)\(period).",
                        retryAfterSeconds: end.map { Int((($0 - nowMillis) + 999) / 1000) }))
            }
        }
        // Requests in progress.
        if limits.maxConcurrency > 0, state.inFlight >= limits.maxConcurrency {
            var error = rateLimited(
                "This API key already has \(state.inFlight) requests in progress (limit \(limits.maxConcurrency)).",
                code: "concurrency_limit_exceeded", retryAfter: .seconds(1))
            error.rateLimit = status(state, limits: limits, now: now)
            return .failure(error)
        }
        // Requests per minute (GCRA).
        var tat = state.tat
        if limits.rpm > 0 {
            let interval = Duration.seconds(60) / limits.rpm
            let tolerance = interval * (limits.rpm - 1)
            let arrival = max(state.tat ?? now, now)
            let early = now.duration(to: arrival) - tolerance
            if early > .zero {
                var error = rateLimited(
                    "This API key is limited to \(limits.rpm) requests per minute.", code: "rate_limit_exceeded",
                    retryAfter: early)
                error.rateLimit = status(state, limits: limits, now: now)
                return .failure(error)
            }
            tat = arrival + interval
        }
        // Tokens per minute.
        var tokens = state.tokens
        if limits.tpm > 0 {
            let level = refilled(state, limits: limits, now: now)
            if estimate > limits.tpm {
                var error = rateLimited(
                    "This request needs about \(estimate) tokens; this API key is limited to \(limits.tpm) tokens per minute.",
                    code: "tokens_limit_exceeded", retryAfter: nil)
                error.rateLimit = status(state, limits: limits, now: now)
                return .failure(error)
            }
            if level < Double(estimate) {
                let seconds = (Double(estimate) - level) / (Double(limits.tpm) / 60)
                var error = rateLimited(
                    "This API key is limited to \(limits.tpm) tokens per minute.", code: "rate_limit_exceeded",
                    retryAfter: .milliseconds(Int64((seconds * 1000).rounded(.up))))
                error.rateLimit = status(state, limits: limits, now: now)
                return .failure(error)
            }
            tokens = level - Double(estimate)
        }
        state.tat = tat
        state.tokens = tokens
        state.tokensAt = now
        if limits.maxConcurrency > 0 { state.inFlight += 1 }
        return .success(status(state, limits: limits, now: now))
    }

    /// A request finished: correct the token charge, count the spending, free its slot.
    func settle(keyID: String, limits: KeyLimits, estimate: Int, tokens: Int, costMicros: Int64) {
        let now = clock.now
        let nowMillis = clock.epochMillis
        states.withLock { states in
            guard var state = states[keyID] else { return }
            if limits.tpm > 0 {
                let level = Self.refilled(state, limits: limits, now: now) - Double(tokens - estimate)
                state.tokens = min(Double(limits.tpm), level)
                state.tokensAt = now
            }
            if limits.budgetMicros > 0 || limits.budgetTokens > 0 {
                Self.rollPeriod(&state, limits: limits, nowMillis: nowMillis)
            }
            // Spending is counted whatever the limits, so a budget set later starts right.
            state.spentMicros += max(0, costMicros)
            state.spentTokens += Int64(max(0, tokens))
            if limits.maxConcurrency > 0 { state.inFlight = max(0, state.inFlight - 1) }
            states[keyID] = state
        }
    }

    /// Gives back a slot without charging anything (an admission dropped unsettled).
    func release(keyID: String, limits: KeyLimits) {
        guard limits.maxConcurrency > 0 else { return }
        states.withLock { states in
            if var state = states[keyID] {
                state.inFlight = max(0, state.inFlight - 1)
                states[keyID] = state
            }
        }
    }

    /// Requests in progress for a key (for tests and metrics).
    public func inFlight(keyID: String) -> Int {
        states.withLock { $0[keyID]?.inFlight ?? 0 }
    }

    /// What a key spent in its current budget period: (micro-dollars, tokens).
    public func spent(keyID: String) -> (micros: Int64, tokens: Int64) {
        states.withLock { states in
            let state = states[keyID] ?? State()
            return (state.spentMicros, state.spentTokens)
        }
    }

    private static func rollPeriod(_ state: inout State, limits: KeyLimits, nowMillis: Int64) {
        let start = limits.budgetPeriod.start(containing: nowMillis)
        if state.periodStart != start {
            state.periodStart = start
            state.spentMicros = 0
            state.spentTokens = 0
        }
    }

    private static func refilled(_ state: State, limits: KeyLimits, now: ContinuousClock.Instant) -> Double {
        let capacity = Double(limits.tpm)
        guard let level = state.tokens, let at = state.tokensAt else { return capacity }
        let elapsed = Double(at.duration(to: now).totalNanoseconds) / 1e9
        return min(capacity, level + max(0, elapsed) * capacity / 60)
    }

    /// The headers' view of a key after (or, for a refusal, without) this request.
    private static func status(_ state: State, limits: KeyLimits, now: ContinuousClock.Instant) -> RateLimitStatus? {
        var status = RateLimitStatus()
        if limits.rpm > 0 {
            let interval = Duration.seconds(60) / limits.rpm
            let tolerance = interval * (limits.rpm - 1)
            let ahead = max(.zero, now.duration(to: state.tat ?? now))
            let room = tolerance - ahead
            let remaining = room < .zero ? 0 : Int(room.totalNanoseconds / interval.totalNanoseconds) + 1
            status.requests = .init(limit: limits.rpm, remaining: min(limits.rpm, remaining), reset: ahead)
        }
        if limits.tpm > 0 {
            let level = refilled(state, limits: limits, now: now)
            let missing = Double(limits.tpm) - level
            status.tokens = .init(
                limit: limits.tpm, remaining: max(0, Int(level.rounded(.down))),
                reset: .milliseconds(Int64((missing / (Double(limits.tpm) / 60) * 1000).rounded(.up))))
        }
        return status.requests == nil && status.tokens == nil ? nil : status
    }

    private static func rateLimited(_ message: String, code: String, retryAfter: Duration?) -> GatewayError {
        GatewayError(
            status: 429, type: "rate_limit_error", code: code, message: message,
            retryAfterSeconds: retryAfter.map { max(1, Int(($0.totalMilliseconds + 999) / 1000)) })
    }
}

/// One admitted request of a limited key: settle it once with what the request used.
/// Dropped unsettled, it gives its concurrency slot back.
public final class KeyAdmission: Sendable {
    private let limiter: KeyLimiter
    private let keyID: String
    private let limits: KeyLimits
    private let estimate: Int
    /// The key's standing once this request was admitted (for the response headers).
    public let status: RateLimitStatus?
    private let settled = Atomic<Bool>(false)

    init(limiter: KeyLimiter, keyID: String, limits: KeyLimits, estimate: Int, status: RateLimitStatus?) {
        self.limiter = limiter
        self.keyID = keyID
        self.limits = limits
        self.estimate = estimate
        self.status = status
    }

    /// Charges what the request used (tokens: prompt + completion) and frees its slot;
    /// later calls do nothing.
    public func settle(tokens: Int, costMicros: Int64) {
        guard settled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        limiter.settle(keyID: keyID, limits: limits, estimate: estimate, tokens: tokens, costMicros: costMicros)
    }

    deinit {
        if !settled.load(ordering: .acquiring) { limiter.release(keyID: keyID, limits: limits) }
    }
}

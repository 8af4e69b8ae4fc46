public import Logging
public import OrchestratorCore
import Synchronization

/// Passive and active health of targets and upstream keys.
///
/// **Targets** (provider + upstream model) have a circuit breaker: closed → open after
/// `failureThreshold` consecutive failures → half-open once `cooldown` has passed, when
/// one probe request is let through; its outcome closes the circuit or opens it again.
/// A sliding window of the last outcomes gives the success rate and latency
/// percentiles. Client errors (400, 404, 422…) and key problems (429, 401/403) do not
/// count against a target.
///
/// **Keys** rest after a 429 (`coolDownKey`) and are disabled after a 401/403
/// (`disableKey`) until an active probe with that key succeeds or an admin enables it.
///
/// Every state change is logged and handed to the ``HealthEventSink`` (which persists it).
public final class HealthMonitor: HealthRegistry {
    public struct Configuration: Sendable {
        public var failureThreshold: Int
        public var cooldown: Duration
        /// Outcomes kept per target for the success rate and percentiles.
        public var windowSize = 100

        public init(failureThreshold: Int, cooldown: Duration) {
            self.failureThreshold = max(1, failureThreshold)
            self.cooldown = cooldown
        }
    }

    public enum CircuitState: String, Sendable {
        case closed, open
        case halfOpen = "half_open"
    }

    /// A read-only view of one target.
    public struct TargetSnapshot: Sendable, Hashable {
        public var state: CircuitState
        public var consecutiveFailures: Int
        public var averageLatency: Duration?
        public var successRate: Double?
        public var latencyP50: Duration?
        public var latencyP95: Duration?
        public var samples: Int
        public var lastError: String?
    }

    /// A read-only view of one key.
    public struct KeySnapshot: Sendable, Hashable {
        public var state: String
        public var coolingFor: Duration?
        public var lastError: String?
    }

    struct TargetState {
        var circuit: CircuitState = .closed
        var consecutiveFailures = 0
        var openedAt: ContinuousClock.Instant?
        var probeStartedAt: ContinuousClock.Instant?
        var ewmaSeconds: Double?
        var lastError: String?
        var window = OutcomeWindow()

        /// The smoothed latency (what `least_latency` orders by).
        var averageLatency: Duration? { ewmaSeconds.map { .nanoseconds(Int64($0 * 1e9)) } }

        /// A success closes the circuit. Returns whether it was closed already.
        mutating func recordSuccess(latencySeconds seconds: Double, windowSize: Int) -> Bool {
            let wasClosed = circuit == .closed
            circuit = .closed
            consecutiveFailures = 0
            openedAt = nil
            probeStartedAt = nil
            ewmaSeconds = ewmaSeconds.map { $0 * 0.8 + seconds * 0.2 } ?? seconds
            window.append(success: true, latencySeconds: seconds, capacity: windowSize)
            return wasClosed
        }

        /// A failure of the target itself. Returns whether it opened the circuit.
        mutating func recordFailure(_ message: String, now: ContinuousClock.Instant, threshold: Int, windowSize: Int) -> Bool {
            consecutiveFailures += 1
            probeStartedAt = nil
            lastError = message
            window.append(success: false, latencySeconds: nil, capacity: windowSize)
            if circuit == .halfOpen || (circuit == .closed && consecutiveFailures >= threshold) {
                circuit = .open
                openedAt = now
                return true
            }
            if circuit == .open { openedAt = now }
            return false
        }
    }

    struct KeyState {
        var disabledReason: String?
        var coolingUntil: ContinuousClock.Instant?
        var lastError: String?

        /// Disabled, or cooling (a cooldown that has run out counts until it is read).
        var isRestricted: Bool { disabledReason != nil || coolingUntil != nil }
    }

    struct State {
        var targets: [TargetID: TargetState] = [:]
        var keys: [UpstreamKeyRef: KeyState] = [:]
        /// The keys whose state ``KeyState/isRestricted``.
        var restrictedKeys = 0
        var lastCheck: [String: (millis: Int64, error: String?)] = [:]

        /// Sets a key's state, keeping ``restrictedKeys`` current.
        mutating func setKey(_ key: UpstreamKeyRef, _ entry: KeyState) {
            let was = keys.updateValue(entry, forKey: key)?.isRestricted ?? false
            restrictedKeys += (entry.isRestricted ? 1 : 0) - (was ? 1 : 0)
        }
    }

    private let configuration: Configuration
    private let state = Mutex(State())
    /// `state.restrictedKeys`, readable without the lock. Every attempt asks whether its
    /// key may be used (twice: whether the provider has one, then which), and almost
    /// always none is resting or disabled: then that is the answer, without the shared
    /// lock and a lookup that hashes the provider's name and the key's id each time.
    private let restrictedKeys = Atomic<Int>(0)
    private let sink: (any HealthEventSink)?
    private let clock: any GatewayClock
    private let logger: Logger

    public init(
        configuration: Configuration, sink: (any HealthEventSink)? = nil, clock: any GatewayClock = SystemClock(),
        logger: Logger = Logger(label: "orchestrator.health")
    ) {
        self.configuration = configuration
        self.sink = sink
        self.clock = clock
        self.logger = logger
    }

    // MARK: Targets

    public func isAvailable(_ target: TargetID, now: ContinuousClock.Instant) -> Bool {
        let (available, change) = state.withLock { state -> (Bool, HealthRecord?) in
            guard var entry = state.targets[target] else { return (true, nil) }
            switch entry.circuit {
            case .closed:
                return (true, nil)
            case .open:
                guard let openedAt = entry.openedAt, openedAt.duration(to: now) >= configuration.cooldown else {
                    return (false, nil)
                }
                entry.circuit = .halfOpen
                entry.probeStartedAt = now
                state.targets[target] = entry
                return (true, record(target, entry))
            case .halfOpen:
                // One probe at a time; a probe whose outcome never came (cancelled) expires.
                if let started = entry.probeStartedAt, started.duration(to: now) < configuration.cooldown {
                    return (false, nil)
                }
                entry.probeStartedAt = now
                state.targets[target] = entry
                return (true, nil)
            }
        }
        if let change { announce(.target(change), "circuit half-open: letting one probe through", target.description) }
        return available
    }

    public func recordSuccess(_ target: TargetID, latency: Duration, now: ContinuousClock.Instant) {
        let seconds = latency.totalSeconds
        let change = state.withLock { state -> HealthRecord? in
            // Updated in place, through the dictionary: a copy taken out and stored back
            // would copy the whole outcome window on every request.
            let wasClosed = state.targets[target, default: TargetState()]
                .recordSuccess(latencySeconds: seconds, windowSize: configuration.windowSize)
            return wasClosed ? nil : state.targets[target].map { record(target, $0) }
        }
        if let change { announce(.target(change), "circuit closed", target.description) }
    }

    public func recordFailure(_ target: TargetID, error: GatewayError, now: ContinuousClock.Instant) {
        guard Self.countsAgainstTarget(error) else {
            // The upstream answered properly: the request or the key was at fault. A
            // half-open probe that got such an answer shows the target is alive.
            recordAlive(target)
            return
        }
        let message = Redaction.scrub(error.message)
        let change = state.withLock { state -> HealthRecord? in
            let opened = state.targets[target, default: TargetState()].recordFailure(
                message, now: now, threshold: configuration.failureThreshold, windowSize: configuration.windowSize)
            return opened ? state.targets[target].map { record(target, $0) } : nil
        }
        if let change { announce(.target(change), "circuit opened", target.description, error: message) }
    }

    public func recordProbe(
        provider: String, targets: [TargetID], outcome: Result<Duration, GatewayError>, now: ContinuousClock.Instant
    ) {
        let millis = clock.epochMillis
        switch outcome {
        case .success(let latency):
            state.withLock { $0.lastCheck[provider] = (millis, nil) }
            for target in targets {
                if snapshot(target, now: now).state != .closed {
                    recordSuccess(target, latency: latency, now: now)
                } else {
                    state.withLock { $0.targets[target, default: TargetState()].consecutiveFailures = 0 }
                }
            }
        case .failure(let error):
            state.withLock { $0.lastCheck[provider] = (millis, Redaction.scrub(error.message)) }
            for target in targets { recordFailure(target, error: error, now: now) }
        }
    }

    /// When the provider was last probed, and the error if the probe failed.
    public func lastCheck(_ provider: String) -> (millis: Int64, error: String?)? {
        state.withLock { $0.lastCheck[provider] }
    }

    /// The targets of `provider` the monitor has seen (including `provider/model` ones).
    public func knownTargets(of provider: String) -> [TargetID] {
        state.withLock { $0.targets.keys.filter { $0.provider == provider } }
    }

    /// The target's smoothed latency (what `least_latency` orders by), without building
    /// a whole snapshot: no window copy, no percentile sort.
    public func averageLatency(_ target: TargetID) -> Duration? {
        state.withLock { state in state.targets[target]?.averageLatency }
    }

    public func snapshot(_ target: TargetID, now: ContinuousClock.Instant = .now) -> TargetSnapshot {
        state.withLock { state in
            let entry = state.targets[target] ?? TargetState()
            return TargetSnapshot(
                state: entry.circuit, consecutiveFailures: entry.consecutiveFailures,
                averageLatency: entry.averageLatency,
                successRate: entry.window.successRate,
                latencyP50: entry.window.latencyPercentile(0.50).map { .nanoseconds(Int64($0 * 1e9)) },
                latencyP95: entry.window.latencyPercentile(0.95).map { .nanoseconds(Int64($0 * 1e9)) },
                samples: entry.window.count, lastError: entry.lastError)
        }
    }

    private func recordAlive(_ target: TargetID) {
        let change = state.withLock { state -> HealthRecord? in
            guard var entry = state.targets[target], entry.circuit != .closed else { return nil }
            entry.circuit = .closed
            entry.consecutiveFailures = 0
            entry.probeStartedAt = nil
            entry.openedAt = nil
            state.targets[target] = entry
            return record(target, entry)
        }
        if let change { announce(.target(change), "circuit closed", target.description) }
    }

    /// Failures that say something about the target itself.
    static func countsAgainstTarget(_ error: GatewayError) -> Bool {
        guard let status = error.upstreamStatus else { return error.isRetryable }
        return status == 408 || status == 409 || status >= 500
    }

    // MARK: Keys

    public func isKeyUsable(_ key: UpstreamKeyRef, now: ContinuousClock.Instant) -> Bool {
        guard hasRestrictedKeys else { return true }
        return updatingKeys { state in
            guard var entry = state.keys[key] else { return true }
            if entry.disabledReason != nil { return false }
            guard let until = entry.coolingUntil else { return true }
            if until > now { return false }
            // The rest is over: forgotten, so that the count of restricted keys falls
            // back to zero (what the key reports does not change).
            entry.coolingUntil = nil
            state.setKey(key, entry)
            return true
        }
    }

    /// Runs `body` on the state under the lock, then publishes its restricted-key count.
    private func updatingKeys<T>(_ body: (inout State) -> T) -> T {
        state.withLock { state in
            let result = body(&state)
            restrictedKeys.store(state.restrictedKeys, ordering: .releasing)
            return result
        }
    }

    /// Whether any key may be resting or disabled; while none is, every key is usable.
    public var hasRestrictedKeys: Bool { restrictedKeys.load(ordering: .acquiring) > 0 }

    /// How many keys are resting or disabled now (for tests).
    var restrictedKeyCount: Int { state.withLock { $0.restrictedKeys } }

    public func coolDownKey(_ key: UpstreamKeyRef, until: ContinuousClock.Instant, reason: String) {
        let message = Redaction.scrub(reason)
        updatingKeys { state in
            var entry = state.keys[key] ?? KeyState()
            entry.coolingUntil = max(entry.coolingUntil ?? until, until)
            entry.lastError = message
            state.setKey(key, entry)
        }
        logger.notice("upstream key cooling down", metadata: ["key": "\(key)", "reason": "\(message)"])
    }

    public func disableKey(_ key: UpstreamKeyRef, reason: String, now: ContinuousClock.Instant) {
        let message = Redaction.scrub(reason)
        let changed = updatingKeys { state -> Bool in
            var entry = state.keys[key] ?? KeyState()
            let changed = entry.disabledReason == nil
            entry.disabledReason = message
            entry.lastError = message
            state.setKey(key, entry)
            return changed
        }
        if changed { announceKey(key, state: "disabled", error: message, "upstream key disabled") }
    }

    public func enableKey(_ key: UpstreamKeyRef, now: ContinuousClock.Instant) {
        let changed = updatingKeys { state -> Bool in
            guard var entry = state.keys[key] else { return false }
            let changed = entry.disabledReason != nil
            entry.disabledReason = nil
            entry.coolingUntil = nil
            state.setKey(key, entry)
            return changed
        }
        if changed { announceKey(key, state: "active", error: nil, "upstream key enabled again") }
    }

    public func keySnapshot(_ key: UpstreamKeyRef, now: ContinuousClock.Instant) -> KeySnapshot {
        state.withLock { state in
            guard let entry = state.keys[key] else { return KeySnapshot(state: "active", coolingFor: nil, lastError: nil) }
            if entry.disabledReason != nil { return KeySnapshot(state: "disabled", coolingFor: nil, lastError: entry.lastError) }
            if let until = entry.coolingUntil, until > now {
                return KeySnapshot(state: "cooling", coolingFor: now.duration(to: until), lastError: entry.lastError)
            }
            return KeySnapshot(state: "active", coolingFor: nil, lastError: entry.lastError)
        }
    }

    /// How long until the first of `keys` stops cooling (nil if none is cooling).
    public func shortestCooldown(_ keys: [UpstreamKeyRef], now: ContinuousClock.Instant) -> Duration? {
        state.withLock { state in
            keys.compactMap { key -> Duration? in
                guard let entry = state.keys[key], entry.disabledReason == nil, let until = entry.coolingUntil, until > now else {
                    return nil
                }
                return now.duration(to: until)
            }.min()
        }
    }

    // MARK: Restore

    /// Seeds state persisted before a restart: open circuits stay open (their cooldown
    /// starts again now) and refused keys stay disabled.
    public func restore(targets: [HealthRecord], disabledKeys: [KeyHealthRecord], now: ContinuousClock.Instant) {
        updatingKeys { state in
            for record in targets where record.state != CircuitState.closed.rawValue {
                var entry = TargetState()
                entry.circuit = .open
                entry.openedAt = now
                entry.consecutiveFailures = record.consecutiveFailures
                entry.lastError = record.lastError
                state.targets[TargetID(provider: record.provider, upstreamModel: record.upstreamModel)] = entry
            }
            for key in disabledKeys where key.state == "disabled" {
                state.setKey(
                    UpstreamKeyRef(provider: key.provider, keyID: key.keyID),
                    KeyState(disabledReason: key.lastError ?? "refused before restart", coolingUntil: nil, lastError: key.lastError))
            }
        }
    }

    // MARK: Helpers

    private func record(_ target: TargetID, _ entry: TargetState) -> HealthRecord {
        HealthRecord(
            provider: target.provider, upstreamModel: target.upstreamModel, state: entry.circuit.rawValue,
            consecutiveFailures: entry.consecutiveFailures, lastError: entry.lastError, updatedAtMillis: clock.epochMillis)
    }

    private func announceKey(_ key: UpstreamKeyRef, state: String, error: String?, _ message: Logger.Message) {
        let record = KeyHealthRecord(
            provider: key.provider, keyID: key.keyID, state: state, lastError: error, updatedAtMillis: clock.epochMillis)
        announce(.key(record), message, key.description, error: error)
    }

    private func announce(_ change: HealthChange, _ message: Logger.Message, _ subject: String, error: String? = nil) {
        if case .target(let record) = change, let state = CircuitState(rawValue: record.state) {
            RequestMetrics.circuit(TargetID(provider: record.provider, upstreamModel: record.upstreamModel), state: state)
        }
        var metadata: Logger.Metadata = ["subject": "\(subject)"]
        if let error { metadata["error"] = "\(error)" }
        logger.warning(message, metadata: metadata)
        sink?.healthChanged(change)
    }

}

/// The last outcomes of a target, as a ring buffer.
struct OutcomeWindow {
    private var outcomes: [(success: Bool, latency: Double?)] = []
    private var next = 0

    var count: Int { outcomes.count }

    mutating func append(success: Bool, latencySeconds: Double?, capacity: Int) {
        if outcomes.count < capacity {
            outcomes.append((success, latencySeconds))
        } else {
            outcomes[next] = (success, latencySeconds)
            next = (next + 1) % capacity
        }
    }

    var successRate: Double? {
        outcomes.isEmpty ? nil : Double(outcomes.filter(\.success).count) / Double(outcomes.count)
    }

    /// Nearest-rank percentile of successful latencies, in seconds.
    func latencyPercentile(_ p: Double) -> Double? {
        let latencies = outcomes.compactMap(\.latency).sorted()
        guard !latencies.isEmpty else { return nil }
        let rank = Int((p * Double(latencies.count)).rounded(.up)) - 1
        return latencies[min(max(rank, 0), latencies.count - 1)]
    }
}

public import OrchestratorCore
import Synchronization

/// In-memory passive health: a circuit breaker and a latency average per target.
///
/// closed → open after `failureThreshold` consecutive failures; open → half-open once
/// `cooldown` has passed, when one probe request is let through; the probe's outcome
/// closes the circuit or opens it again. Client errors (4xx other than 408/409/429) do
/// not count against a target.
public final class CircuitBreakerRegistry: HealthRegistry {
    public enum State: String, Sendable {
        case closed, open, halfOpen = "half_open"
    }

    public struct Snapshot: Sendable, Hashable {
        public var state: State
        public var consecutiveFailures: Int
        public var averageLatency: Duration?
    }

    struct Entry {
        var state: State = .closed
        var consecutiveFailures = 0
        var openedAt: ContinuousClock.Instant?
        var probeInFlight = false
        var ewmaSeconds: Double?
    }

    private let failureThreshold: Int
    private let cooldown: Duration
    private let entries = Mutex<[TargetID: Entry]>([:])

    public init(failureThreshold: Int, cooldown: Duration) {
        self.failureThreshold = max(1, failureThreshold)
        self.cooldown = cooldown
    }

    public func isAvailable(_ target: TargetID, now: ContinuousClock.Instant) -> Bool {
        entries.withLock { entries in
            guard var entry = entries[target] else { return true }
            switch entry.state {
            case .closed:
                return true
            case .open:
                guard let openedAt = entry.openedAt, openedAt.duration(to: now) >= cooldown else { return false }
                entry.state = .halfOpen
                entry.probeInFlight = true
                entries[target] = entry
                return true
            case .halfOpen:
                if entry.probeInFlight { return false }
                entry.probeInFlight = true
                entries[target] = entry
                return true
            }
        }
    }

    public func recordSuccess(_ target: TargetID, latency: Duration, now: ContinuousClock.Instant) {
        let seconds = Double(latency.components.seconds) + Double(latency.components.attoseconds) / 1e18
        entries.withLock { entries in
            var entry = entries[target] ?? Entry()
            entry.state = .closed
            entry.consecutiveFailures = 0
            entry.openedAt = nil
            entry.probeInFlight = false
            entry.ewmaSeconds = entry.ewmaSeconds.map { $0 * 0.8 + seconds * 0.2 } ?? seconds
            entries[target] = entry
        }
    }

    public func recordFailure(_ target: TargetID, error: GatewayError, now: ContinuousClock.Instant) {
        guard Self.countsAgainstTarget(error) else {
            // The upstream answered properly; the request was at fault. A half-open probe
            // that got such an answer shows the target is alive.
            recordAlive(target)
            return
        }
        entries.withLock { entries in
            var entry = entries[target] ?? Entry()
            entry.consecutiveFailures += 1
            entry.probeInFlight = false
            if entry.state == .halfOpen || entry.consecutiveFailures >= failureThreshold {
                entry.state = .open
                entry.openedAt = now
            }
            entries[target] = entry
        }
    }

    /// The current state of a target, for `/admin/health` and least-latency routing.
    public func snapshot(_ target: TargetID) -> Snapshot {
        entries.withLock { entries in
            let entry = entries[target] ?? Entry()
            return Snapshot(
                state: entry.state, consecutiveFailures: entry.consecutiveFailures,
                averageLatency: entry.ewmaSeconds.map { .milliseconds(Int64($0 * 1000)) })
        }
    }

    private func recordAlive(_ target: TargetID) {
        entries.withLock { entries in
            guard var entry = entries[target], entry.state != .closed else { return }
            entry.state = .closed
            entry.consecutiveFailures = 0
            entry.probeInFlight = false
            entries[target] = entry
        }
    }

    static func countsAgainstTarget(_ error: GatewayError) -> Bool {
        guard let status = error.upstreamStatus else { return error.isRetryable }
        return status == 408 || status == 409 || status == 429 || status >= 500 || status == 401 || status == 403
    }
}

/// Identifies one routable target: a provider and the upstream model it serves.
public struct TargetID: Sendable, Hashable, CustomStringConvertible {
    public var provider: String
    public var upstreamModel: String

    public init(provider: String, upstreamModel: String) {
        self.provider = provider
        self.upstreamModel = upstreamModel
    }

    public var description: String { "\(provider)/\(upstreamModel)" }
}

/// Tracks the health of targets from the outcome of every attempt (passive checks)
/// and answers whether a target may be tried now.
public protocol HealthRegistry: Sendable {
    /// Whether the target may receive a request now (its circuit is not open).
    func isAvailable(_ target: TargetID, now: ContinuousClock.Instant) -> Bool
    /// Records a successful attempt and its latency.
    func recordSuccess(_ target: TargetID, latency: Duration, now: ContinuousClock.Instant)
    /// Records a failed attempt.
    func recordFailure(_ target: TargetID, error: GatewayError, now: ContinuousClock.Instant)
}

/// The time source the engine reads, injectable for tests.
public protocol GatewayClock: Sendable {
    /// Monotonic now, for durations and deadlines.
    var now: ContinuousClock.Instant { get }
    /// Wall-clock now in epoch milliseconds, for timestamps.
    var epochMillis: Int64 { get }
    /// Sleeps until `deadline` (throws when the task is cancelled).
    func sleep(until deadline: ContinuousClock.Instant) async throws
}

/// The real clock.
public struct SystemClock: GatewayClock {
    public init() {}
    public var now: ContinuousClock.Instant { .now }
    public var epochMillis: Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await Task.sleep(until: deadline, clock: .continuous)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import Synchronization

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

/// Identifies one upstream key of a provider.
public struct UpstreamKeyRef: Sendable, Hashable, CustomStringConvertible {
    public var provider: String
    public var keyID: String

    public init(provider: String, keyID: String) {
        self.provider = provider
        self.keyID = keyID
    }

    public var description: String { "\(provider)#\(keyID)" }
}

/// Tracks the health of targets and upstream keys from the outcome of every attempt
/// (passive checks) and of background probes (active checks), and answers whether a
/// target or key may be used now.
public protocol HealthRegistry: Sendable {
    /// Whether the target may receive a request now (its circuit is not open).
    func isAvailable(_ target: TargetID, now: ContinuousClock.Instant) -> Bool
    /// Records a successful attempt and its latency.
    func recordSuccess(_ target: TargetID, latency: Duration, now: ContinuousClock.Instant)
    /// Records a failed attempt. Failures that are about a key (429, 401/403) do not
    /// count against the target's circuit.
    func recordFailure(_ target: TargetID, error: GatewayError, now: ContinuousClock.Instant)

    /// Whether a key may be used now (not cooling down after a 429, not disabled).
    func isKeyUsable(_ key: UpstreamKeyRef, now: ContinuousClock.Instant) -> Bool
    /// Rests a key until `until` (after a 429) without touching the provider's circuit.
    func coolDownKey(_ key: UpstreamKeyRef, until: ContinuousClock.Instant, reason: String)
    /// Disables a key the upstream refused (401/403) until a probe or an admin enables it.
    func disableKey(_ key: UpstreamKeyRef, reason: String, now: ContinuousClock.Instant)
    /// Makes a disabled or cooling key usable again.
    func enableKey(_ key: UpstreamKeyRef, now: ContinuousClock.Instant)

    /// Records the outcome of an active probe of a provider, covering all its targets.
    func recordProbe(
        provider: String, targets: [TargetID], outcome: Result<Duration, GatewayError>, now: ContinuousClock.Instant)
}

/// Receives health state changes (to log and persist them). Must not block: it is
/// called from the request path.
public protocol HealthEventSink: Sendable {
    func healthChanged(_ change: HealthChange)
}

/// A change of a target's circuit or of a key's state.
public enum HealthChange: Sendable, Hashable {
    case target(HealthRecord)
    case key(KeyHealthRecord)
}

/// A key's persisted state.
public struct KeyHealthRecord: Sendable, Hashable {
    public var provider: String
    public var keyID: String
    /// `active`, `cooling` or `disabled`.
    public var state: String
    public var lastError: String?
    public var updatedAtMillis: Int64

    public init(provider: String, keyID: String, state: String, lastError: String?, updatedAtMillis: Int64) {
        self.provider = provider
        self.keyID = keyID
        self.state = state
        self.lastError = lastError
        self.updatedAtMillis = updatedAtMillis
    }
}

/// A point-in-time view of every target's and key's health, for `GET /admin/health`.
public struct HealthReport: Sendable, Hashable, Codable {
    public struct Target: Sendable, Hashable, Codable {
        public var provider: String
        public var model: String
        public var state: String
        public var consecutiveFailures: Int
        public var successRate: Double?
        public var latencyP50Ms: Double?
        public var latencyP95Ms: Double?
        public var samples: Int
        public var lastError: String?
        public var lastCheckAt: String?

        public init(
            provider: String, model: String, state: String, consecutiveFailures: Int, successRate: Double?,
            latencyP50Ms: Double?, latencyP95Ms: Double?, samples: Int, lastError: String?, lastCheckAt: String?
        ) {
            self.provider = provider
            self.model = model
            self.state = state
            self.consecutiveFailures = consecutiveFailures
            self.successRate = successRate
            self.latencyP50Ms = latencyP50Ms
            self.latencyP95Ms = latencyP95Ms
            self.samples = samples
            self.lastError = lastError
            self.lastCheckAt = lastCheckAt
        }

        enum CodingKeys: String, CodingKey {
            case provider, model, state, samples
            case consecutiveFailures = "consecutive_failures"
            case successRate = "success_rate"
            case latencyP50Ms = "latency_p50_ms"
            case latencyP95Ms = "latency_p95_ms"
            case lastError = "last_error"
            case lastCheckAt = "last_check_at"
        }
    }

    public struct Key: Sendable, Hashable, Codable {
        public var provider: String
        public var id: String
        public var last4: String
        public var state: String
        public var coolingForMs: Int64?
        public var lastError: String?

        public init(provider: String, id: String, last4: String, state: String, coolingForMs: Int64?, lastError: String?) {
            self.provider = provider
            self.id = id
            self.last4 = last4
            self.state = state
            self.coolingForMs = coolingForMs
            self.lastError = lastError
        }

        enum CodingKeys: String, CodingKey {
            case provider, id, last4, state
            case coolingForMs = "cooling_for_ms"
            case lastError = "last_error"
        }
    }

    public struct Provider: Sendable, Hashable, Codable {
        public var name: String
        public var type: String
        public var enabled: Bool
        public var routable: Bool
        public var lastCheckAt: String?
        public var lastCheckError: String?
        public var targets: [Target]
        public var keys: [Key]

        public init(
            name: String, type: String, enabled: Bool, routable: Bool, lastCheckAt: String?, lastCheckError: String?,
            targets: [Target], keys: [Key]
        ) {
            self.name = name
            self.type = type
            self.enabled = enabled
            self.routable = routable
            self.lastCheckAt = lastCheckAt
            self.lastCheckError = lastCheckError
            self.targets = targets
            self.keys = keys
        }

        enum CodingKeys: String, CodingKey {
            case name, type, enabled, routable, targets, keys
            case lastCheckAt = "last_check_at"
            case lastCheckError = "last_check_error"
        }
    }

    public var status: String
    public var providers: [Provider]

    public init(status: String, providers: [Provider]) {
        self.status = status
        self.providers = providers
    }
}

/// Something that can describe the gateway's health (the engine), for the admin API.
public protocol HealthReporting: Sendable {
    func healthReport() -> HealthReport
}

/// A source of random numbers the engine draws from, injectable for deterministic tests.
public protocol RandomSource: Sendable {
    func next() -> UInt64
}

/// SplitMix64: a counter advanced by a fixed odd step, then mixed. Fast and well spread,
/// not for secrets; seeded, it is the deterministic generator tests use.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public static let increment: UInt64 = 0x9E37_79B9_7F4A_7C15
    public var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= Self.increment
        return Self.mix(state)
    }

    /// The output function applied to each counter value.
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A fast generator for load balancing and jitter (not for secrets): SplitMix64 over
/// one atomic counter, seeded once per process from the system generator. Thread-safe
/// and lock-free; no system call per number (the system generator costs one each).
public struct FastRandomSource: RandomSource {
    private static let state = Atomic<UInt64>({
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }())

    public init() {}

    public func next() -> UInt64 {
        SplitMix64.mix(Self.state.wrappingAdd(SplitMix64.increment, ordering: .relaxed).newValue)
    }
}

/// The system's cryptographically secure generator.
public struct SystemRandomSource: RandomSource {
    public init() {}
    public func next() -> UInt64 {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }
}

/// Adapts a ``RandomSource`` to Swift's `RandomNumberGenerator`.
public struct RandomSourceGenerator: RandomNumberGenerator {
    public let source: any RandomSource
    public init(_ source: any RandomSource) { self.source = source }
    public mutating func next() -> UInt64 { source.next() }
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

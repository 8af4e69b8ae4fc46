public import Logging
public import OrchestratorCore
public import ServiceLifecycle

/// The active half of health monitoring: every `interval` (±10 % jitter) it probes each
/// enabled provider cheaply with each of its keys and feeds the results to the same
/// ``HealthMonitor`` the requests feed, so a dead provider recovers — and a refused key
/// comes back — without any user traffic. Off when the interval is zero.
public final class ActiveHealthChecker: Service {
    private let engine: GatewayEngine
    private let interval: Duration
    private let clock: any GatewayClock
    private let random: any RandomSource
    private let logger: Logger

    public init(
        engine: GatewayEngine, interval: Duration, clock: any GatewayClock = SystemClock(),
        random: any RandomSource = FastRandomSource(), logger: Logger
    ) {
        self.engine = engine
        self.interval = interval
        self.clock = clock
        self.random = random
        self.logger = logger
    }

    public func run() async throws {
        guard interval > .zero else {
            // Off: stay alive until shutdown (a service that returns early stops the group).
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.clock.sleep(until: self.clock.now.advanced(by: self.jittered()))
                } catch {
                    return
                }
                await self.engine.runActiveChecks(logger: self.logger)
            }
        }
    }

    /// The interval with ±10 % jitter, so many instances do not probe in lockstep.
    func jittered() -> Duration {
        let tenth = interval / 10
        let nanos = max(0, tenth.totalNanoseconds)
        guard nanos > 0 else { return interval }
        let offset = Int64(random.next() % UInt64(2 * nanos + 1)) - nanos
        return interval + .nanoseconds(offset)
    }
}

/// The outcome of checking one provider now.
public struct ProviderCheck: Sendable {
    public struct Key: Sendable {
        public var keyID: String?
        public var last4: String?
        public var ok: Bool
        public var latency: Duration?
        public var error: String?
    }

    public var provider: String
    public var ok: Bool
    public var latency: Duration?
    public var keys: [Key]
}

extension GatewayEngine {
    /// Probes every enabled, routable provider once, concurrently, with each of its keys
    /// that is not resting after a 429, and records the outcomes.
    public func runActiveChecks(logger: Logger) async {
        let table = currentTable
        let providers = table.providers.values.filter(\.config.enabled)
        await withTaskGroup(of: Void.self) { group in
            for provider in providers {
                group.addTask { await self.probe(provider, table: table, logger: logger) }
            }
        }
    }

    /// Probes one provider now, with each of its keys (`POST /admin/providers/{name}/check`),
    /// records the outcome like a scheduled check, and reports it; nil when the provider is
    /// not in the routing table (unknown, or of a type this build cannot route).
    public func checkProvider(_ name: String, logger: Logger) async -> ProviderCheck? {
        let table = currentTable
        guard let provider = table.providers[name] else { return nil }
        return await probe(provider, table: table, logger: logger, includeCooling: true)
    }

    @discardableResult
    private func probe(_ provider: RoutingTable.Provider, table: RoutingTable, logger: Logger, includeCooling: Bool = false)
        async -> ProviderCheck
    {
        let name = provider.config.name
        var report = ProviderCheck(provider: name, ok: false, latency: nil, keys: [])
        var targets = table.configuredTargets.filter { $0.provider == name }
        for extra in health.knownTargets(of: name) where !targets.contains(extra) { targets.append(extra) }
        let timeout = Duration.milliseconds(Int64(min(provider.config.timeoutSeconds, 30) * 1000))
        // Keys configured but all switched off: nothing may be sent, not even a probe.
        if provider.keys.isEmpty && provider.keys.hasConfiguredKeys { return report }
        let keys: [StoredUpstreamKey?] = provider.keys.isEmpty ? [nil] : provider.keys.keys.map { $0 }
        var succeeded: Duration?
        var lastFailure: GatewayError?
        for key in keys {
            let ref = key.map { UpstreamKeyRef(provider: name, keyID: $0.id) }
            if !includeCooling, let ref, health.keySnapshot(ref, now: now).state == "cooling" { continue }
            let started = now
            do {
                try await provider.adapter.probe(
                    provider.config, apiKey: key?.secret, deadline: started.advanced(by: timeout), logger: logger)
                let latency = started.duration(to: now)
                succeeded = succeeded ?? latency
                if let ref { health.enableKey(ref, now: now) }
                report.keys.append(.init(keyID: key?.id, last4: key?.last4, ok: true, latency: latency, error: nil))
            } catch let raw {
                let error = raw.redacting(key?.secret)
                lastFailure = error
                if let ref, error.upstreamStatus == 401 || error.upstreamStatus == 403 {
                    health.disableKey(ref, reason: error.message, now: now)
                }
                report.keys.append(
                    .init(keyID: key?.id, last4: key?.last4, ok: false, latency: started.duration(to: now), error: Redaction.scrub(error.message)))
            }
        }
        report.ok = succeeded != nil
        report.latency = succeeded
        if let succeeded {
            health.recordProbe(provider: name, targets: targets, outcome: .success(succeeded), now: now)
        } else if let lastFailure {
            logger.info("active check failed", metadata: ["provider": "\(name)", "error": "\(lastFailure.message)"])
            // A refused key says nothing about the provider's health.
            if lastFailure.upstreamStatus != 401 && lastFailure.upstreamStatus != 403 {
                health.recordProbe(provider: name, targets: targets, outcome: .failure(lastFailure), now: now)
            }
        }
        return report
    }

    var now: ContinuousClock.Instant { clockNow() }
}

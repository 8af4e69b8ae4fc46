import OrchestratorCore
import Testing

@testable import Balancing

struct BalancerTests {
    let targets: [(index: Int, target: TargetConfig)] = [
        (0, TargetConfig(provider: "a", model: "a", weight: 3, priority: 0)),
        (1, TargetConfig(provider: "b", model: "b", weight: 1, priority: 0)),
        (2, TargetConfig(provider: "c", model: "c", weight: 5, priority: 1)),
    ]

    @Test func lowerPriorityTierComesFirst() {
        var rng = SplitMix64(seed: 1)
        for _ in 0..<50 {
            let order = TierBalancer().order(targets, strategy: .weightedRandom, latency: { _ in nil }, random: &rng)
            #expect(order.last?.provider == "c")
            #expect(order.count == 3)
        }
    }

    @Test func weightedRandomFollowsWeights() {
        var rng = SplitMix64(seed: 42)
        var firsts: [String: Int] = [:]
        let balancer = TierBalancer()
        for _ in 0..<8000 {
            let first = balancer.order(targets, strategy: .weightedRandom, latency: { _ in nil }, random: &rng)[0].provider
            firsts[first, default: 0] += 1
        }
        let share = Double(firsts["a"] ?? 0) / 8000
        #expect(abs(share - 0.75) < 0.03, "a has weight 3 of 4: \(share)")
    }

    @Test func zeroWeightIsLastResort() {
        var rng = SplitMix64(seed: 7)
        let tier: [(index: Int, target: TargetConfig)] = [
            (0, TargetConfig(provider: "zero", model: "z", weight: 0)), (1, TargetConfig(provider: "one", model: "o", weight: 1)),
        ]
        for _ in 0..<100 {
            #expect(TierBalancer().order(tier, strategy: .weightedRandom, latency: { _ in nil }, random: &rng).map(\.provider) == ["one", "zero"])
        }
    }

    @Test func smoothRoundRobinSequence() {
        let balancer = TierBalancer()
        var rng = SplitMix64(seed: 0)
        let tier: [(index: Int, target: TargetConfig)] = [
            (0, TargetConfig(provider: "a", model: "a", weight: 5)), (1, TargetConfig(provider: "b", model: "b", weight: 1)),
            (2, TargetConfig(provider: "c", model: "c", weight: 1)),
        ]
        let picks = (0..<7).map { _ in
            balancer.order(tier, strategy: .roundRobin, latency: { _ in nil }, random: &rng)[0].provider
        }
        // nginx's smooth weighted round robin for weights 5,1,1.
        #expect(picks == ["a", "a", "b", "a", "c", "a", "a"])
    }

    @Test func leastLatencyPrefersFastAndExploresUnmeasured() {
        var rng = SplitMix64(seed: 3)
        let tier: [(index: Int, target: TargetConfig)] = [
            (0, TargetConfig(provider: "slow", model: "s")), (1, TargetConfig(provider: "fast", model: "f")),
        ]
        let latency: (TargetConfig) -> Duration? = { $0.provider == "slow" ? .milliseconds(900) : .milliseconds(90) }
        var fastFirst = 0
        for _ in 0..<1000 {
            if TierBalancer().order(tier, strategy: .leastLatency, latency: latency, random: &rng)[0].provider == "fast" { fastFirst += 1 }
        }
        #expect(fastFirst > 900 && fastFirst < 1000, "mostly fastest, with some exploration: \(fastFirst)")
        let unmeasured: (TargetConfig) -> Duration? = { $0.provider == "slow" ? nil : .milliseconds(90) }
        var slowFirst = 0
        for _ in 0..<100 {
            if TierBalancer().order(tier, strategy: .leastLatency, latency: unmeasured, random: &rng)[0].provider == "slow" { slowFirst += 1 }
        }
        #expect(slowFirst > 80)
    }
}

struct HealthMonitorTests {
    let target = TargetID(provider: "p", upstreamModel: "m")

    @Test func opensAfterThresholdAndProbesAfterCooldown() {
        let registry = HealthMonitor(configuration: .init(failureThreshold: 3, cooldown: .seconds(30)))
        let start = ContinuousClock.now
        let failure = GatewayError.upstream(status: 500, message: "x", provider: "p")
        for _ in 0..<2 { registry.recordFailure(target, error: failure, now: start) }
        #expect(registry.isAvailable(target, now: start))
        registry.recordFailure(target, error: failure, now: start)
        #expect(registry.snapshot(target).state == .open)
        #expect(!registry.isAvailable(target, now: start.advanced(by: .seconds(29))))
        // After the cooldown exactly one probe gets through.
        #expect(registry.isAvailable(target, now: start.advanced(by: .seconds(30))))
        #expect(registry.snapshot(target).state == .halfOpen)
        #expect(!registry.isAvailable(target, now: start.advanced(by: .seconds(31))))
        // A failed probe re-opens; a successful one closes.
        registry.recordFailure(target, error: failure, now: start.advanced(by: .seconds(31)))
        #expect(registry.snapshot(target).state == .open)
        #expect(registry.isAvailable(target, now: start.advanced(by: .seconds(62))))
        registry.recordSuccess(target, latency: .milliseconds(100), now: start.advanced(by: .seconds(62)))
        #expect(registry.snapshot(target).state == .closed)
        #expect(registry.isAvailable(target, now: start.advanced(by: .seconds(62))))
    }

    @Test func clientErrorsDoNotCount() {
        let registry = HealthMonitor(configuration: .init(failureThreshold: 1, cooldown: .seconds(30)))
        registry.recordFailure(target, error: .upstream(status: 400, message: "bad", provider: "p"), now: .now)
        registry.recordFailure(target, error: .upstream(status: 404, message: "no", provider: "p"), now: .now)
        #expect(registry.snapshot(target).state == .closed)
        registry.recordFailure(target, error: .timeout("slow"), now: .now)
        #expect(registry.snapshot(target).state == .open)
    }

    @Test func successResetsConsecutiveFailuresAndTracksLatency() {
        let registry = HealthMonitor(configuration: .init(failureThreshold: 3, cooldown: .seconds(30)))
        let failure = GatewayError.upstream(status: 503, message: "x", provider: "p")
        registry.recordFailure(target, error: failure, now: .now)
        registry.recordFailure(target, error: failure, now: .now)
        registry.recordSuccess(target, latency: .milliseconds(200), now: .now)
        registry.recordFailure(target, error: failure, now: .now)
        #expect(registry.snapshot(target).consecutiveFailures == 1)
        #expect(registry.snapshot(target).averageLatency == .milliseconds(200))
    }
}

struct KeyPoolTests {
    let keys = (0..<3).map { StoredUpstreamKey(id: "\($0)", secret: "k\($0)", enabled: true) }

    func take(_ pool: KeyPool, usable: (String) -> Bool = { _ in true }) -> KeyPool.Lease? {
        if case .key(let lease) = pool.acquire(usable: usable) { return lease }
        return nil
    }

    @Test func roundRobinRotates() {
        let pool = KeyPool(keys: keys, strategy: .roundRobin)
        let picks = (0..<6).map { _ -> String in
            let lease = take(pool)!
            pool.release(lease)
            return lease.secret
        }
        #expect(picks == ["k0", "k1", "k2", "k0", "k1", "k2"])
    }

    @Test func roundRobinSkipsUnusableKeys() {
        let pool = KeyPool(keys: keys, strategy: .roundRobin)
        let picks = (0..<4).map { _ in take(pool, usable: { $0 != "1" })!.secret }
        #expect(picks == ["k0", "k2", "k0", "k2"])
    }

    @Test func leastUsedAvoidsBusyKeys() {
        let pool = KeyPool(keys: keys, strategy: .leastUsed)
        let a = take(pool)!
        let b = take(pool)!
        let c = take(pool)!
        #expect(Set([a.secret, b.secret, c.secret]) == ["k0", "k1", "k2"])
        pool.release(b)
        #expect(take(pool)?.secret == b.secret)
    }

    @Test func randomIsDrawnFromTheInjectedSource() {
        let pool = KeyPool(keys: keys, strategy: .random, random: SeededRandom(seed: 9))
        let again = KeyPool(keys: keys, strategy: .random, random: SeededRandom(seed: 9))
        let first = (0..<20).map { _ in take(pool)!.id }
        #expect(first == (0..<20).map { _ in take(again)!.id })
        #expect(Set(first).count == 3)
    }

    @Test func disabledOrUnusableKeys() {
        let off = KeyPool(keys: [StoredUpstreamKey(id: "x", secret: "off", enabled: false)], strategy: .random)
        guard case .allUnavailable = off.acquire(usable: { _ in true }) else {
            Issue.record("a pool whose keys are all switched off must not send requests without a key")
            return
        }
        #expect(!off.hasUsableKey { _ in true })
        guard case .noKeys = KeyPool(keys: [], strategy: .random).acquire(usable: { _ in true }) else {
            Issue.record("a provider without keys is called without one")
            return
        }
        let pool = KeyPool(keys: keys, strategy: .roundRobin)
        guard case .allUnavailable = pool.acquire(usable: { _ in false }) else {
            Issue.record("every key unusable")
            return
        }
        #expect(!pool.hasUsableKey { _ in false } && pool.hasUsableKey { $0 == "2" })
    }

    /// A pool of one key (the common case, taken without building an index list) behaves
    /// like any other under every strategy: usable or not, counted while leased.
    @Test(arguments: [KeyStrategy.roundRobin, .random, .leastUsed]) func aSingleKeyIsLeasedAndCounted(_ strategy: KeyStrategy) {
        let pool = KeyPool(
            keys: [StoredUpstreamKey(id: "off", secret: "s0", enabled: false), StoredUpstreamKey(id: "only", secret: "s1", enabled: true)],
            strategy: strategy)
        guard case .allUnavailable = pool.acquire(usable: { $0 != "only" }) else {
            Issue.record("the only key is resting")
            return
        }
        var leases: [KeyPool.Lease] = []
        for _ in 0..<3 {
            guard case .key(let lease) = pool.acquire(usable: { _ in true }) else {
                Issue.record("the only key is usable")
                return
            }
            #expect(lease.id == "only" && lease.secret == "s1" && lease.index == 0)
            leases.append(lease)
        }
        #expect(pool.leasesInFlight == 3)
        for lease in leases { pool.release(lease) }
        #expect(pool.leasesInFlight == 0)
    }
}

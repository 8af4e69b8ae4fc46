import Logging
import NIOCore
import OrchestratorCore
import Synchronization
import Testing

@testable import Balancing

/// Deterministic checks of the routing engine's parts (issue 3's acceptance list).
struct DistributionTests {
    @Test func weightedRandomIsWithinTwoPercentOver100kPicks() {
        let tier: [(index: Int, target: TargetConfig)] = [
            (0, TargetConfig(provider: "a", model: "a", weight: 5)),
            (1, TargetConfig(provider: "b", model: "b", weight: 3)),
            (2, TargetConfig(provider: "c", model: "c", weight: 2)),
        ]
        var rng = RandomSourceGenerator(SeededRandom(seed: 2026))
        var counts: [String: Int] = [:]
        let balancer = TierBalancer()
        let picks = 100_000
        for _ in 0..<picks {
            counts[balancer.order(tier, strategy: .weightedRandom, latency: { _ in nil }, random: &rng)[0].provider, default: 0] += 1
        }
        for (name, weight) in [("a", 0.5), ("b", 0.3), ("c", 0.2)] {
            let share = Double(counts[name] ?? 0) / Double(picks)
            #expect(abs(share - weight) / weight < 0.02, "\(name): \(share) vs \(weight)")
        }
    }

    @Test func roundRobinSharesExactlyByWeightOverACycle() {
        let tier: [(index: Int, target: TargetConfig)] = [
            (0, TargetConfig(provider: "a", model: "a", weight: 3)), (1, TargetConfig(provider: "b", model: "b", weight: 1)),
        ]
        var rng = RandomSourceGenerator(SeededRandom(seed: 0))
        let balancer = TierBalancer()
        var counts: [String: Int] = [:]
        for _ in 0..<400 { counts[balancer.order(tier, strategy: .roundRobin, latency: { _ in nil }, random: &rng)[0].provider, default: 0] += 1 }
        #expect(counts == ["a": 300, "b": 100])
    }

    @Test func tierFallbackOrder() {
        var rng = RandomSourceGenerator(SeededRandom(seed: 5))
        let targets: [(index: Int, target: TargetConfig)] = [
            (0, TargetConfig(provider: "p2", model: "x", priority: 2)), (1, TargetConfig(provider: "p0", model: "x", priority: 0)),
            (2, TargetConfig(provider: "p1", model: "x", priority: 1)),
        ]
        for strategy in RoutingStrategy.allCases {
            let order = TierBalancer().order(targets, strategy: strategy, latency: { _ in nil }, random: &rng)
            #expect(order.map(\.provider) == ["p0", "p1", "p2"], "\(strategy)")
        }
    }
}

struct BackoffTests {
    @Test func capGrowsExponentiallyAndIsBounded() {
        #expect(Backoff.cap(attempt: 1, initialMs: 200, maxMs: 5000) == 200)
        #expect(Backoff.cap(attempt: 2, initialMs: 200, maxMs: 5000) == 400)
        #expect(Backoff.cap(attempt: 5, initialMs: 200, maxMs: 5000) == 3200)
        #expect(Backoff.cap(attempt: 6, initialMs: 200, maxMs: 5000) == 5000)
        #expect(Backoff.cap(attempt: 200, initialMs: 200, maxMs: 5000) == 5000)
        #expect(Backoff.cap(attempt: 3, initialMs: 0, maxMs: 5000) == 0)
        #expect(Backoff.cap(attempt: 40, initialMs: Int.max / 2, maxMs: 7) == 7)
    }

    @Test func delaysStayWithinFullJitterBounds() {
        let random = SeededRandom(seed: 11)
        for attempt in 1...8 {
            let cap = Backoff.cap(attempt: attempt, initialMs: 100, maxMs: 2000)
            var seen: Set<Duration> = []
            for _ in 0..<500 {
                let delay = Backoff.delay(attempt: attempt, retryAfterSeconds: nil, initialMs: 100, maxMs: 2000, random: random)
                #expect(delay >= .zero && delay <= .milliseconds(cap))
                seen.insert(delay)
            }
            #expect(seen.count > 10, "jittered, not fixed")
        }
        #expect(Backoff.delay(attempt: 1, retryAfterSeconds: 7, initialMs: 100, maxMs: 200, random: random) == .seconds(7))
    }
}

struct ClassificationTests {
    /// Every upstream status the router can meet, and what it does with it.
    @Test func everyStatus() {
        let table: [(Int, retryable: Bool, countsAgainstTarget: Bool)] = [
            (400, false, false), (401, true, false), (403, true, false), (404, false, false), (408, true, true),
            (409, true, true), (413, false, false), (422, false, false), (429, true, false), (500, true, true),
            (502, true, true), (503, true, true), (504, true, true), (529, true, true),
        ]
        for (status, retryable, counts) in table {
            let error = GatewayError.upstream(status: status, message: "x", provider: "p")
            #expect(error.isRetryable == retryable, "\(status) retryable")
            #expect(HealthMonitor.countsAgainstTarget(error) == counts, "\(status) circuit")
        }
    }

    @Test func everyTransportKind() {
        let cases: [(GatewayError, Int)] = [
            (.upstreamUnreachable("refused", provider: "p"), 502), (.timeout("slow"), 504),
            (.badUpstreamResponse("garbage", provider: "p"), 502),
        ]
        for (error, status) in cases {
            #expect(error.isRetryable && HealthMonitor.countsAgainstTarget(error) && error.status == status)
        }
        #expect(!HealthMonitor.countsAgainstTarget(.invalidRequest("bad")))
    }
}

struct HealthMonitorStateTests {
    let target = TargetID(provider: "p", upstreamModel: "m")
    let failure = GatewayError.upstream(status: 500, message: "boom", provider: "p")

    @Test func halfOpenProbeExpiresIfItsOutcomeNeverArrives() {
        let monitor = HealthMonitor(configuration: .init(failureThreshold: 1, cooldown: .seconds(10)))
        let t0 = ContinuousClock.now
        monitor.recordFailure(target, error: failure, now: t0)
        #expect(monitor.isAvailable(target, now: t0.advanced(by: .seconds(10))))
        #expect(!monitor.isAvailable(target, now: t0.advanced(by: .seconds(11))), "one probe at a time")
        #expect(monitor.isAvailable(target, now: t0.advanced(by: .seconds(21))), "a lost probe does not block forever")
    }

    @Test func slidingWindowStatistics() {
        var configuration = HealthMonitor.Configuration(failureThreshold: 100, cooldown: .seconds(1))
        configuration.windowSize = 10
        let monitor = HealthMonitor(configuration: configuration)
        for i in 1...20 {
            if i % 4 == 0 {
                monitor.recordFailure(target, error: failure, now: .now)
            } else {
                monitor.recordSuccess(target, latency: .milliseconds(i * 10), now: .now)
            }
        }
        let snapshot = monitor.snapshot(target)
        // The window holds outcomes 11…20: failures at 12, 16, 20.
        #expect(snapshot.samples == 10)
        #expect(snapshot.successRate == 0.7)
        #expect(snapshot.latencyP50 == .milliseconds(150))
        #expect(snapshot.latencyP95 == .milliseconds(190))
    }

    @Test func stateChangesReachTheSink() {
        let sink = RecordingSink()
        let monitor = HealthMonitor(configuration: .init(failureThreshold: 2, cooldown: .seconds(5)), sink: sink)
        let t0 = ContinuousClock.now
        monitor.recordFailure(target, error: failure, now: t0)
        monitor.recordFailure(target, error: failure, now: t0)
        _ = monitor.isAvailable(target, now: t0.advanced(by: .seconds(5)))
        monitor.recordSuccess(target, latency: .milliseconds(3), now: t0.advanced(by: .seconds(5)))
        let key = UpstreamKeyRef(provider: "p", keyID: "k1")
        monitor.disableKey(key, reason: "Upstream p returned 401: bad key sk-abcdefghijklmn", now: t0)
        monitor.enableKey(key, now: t0)
        let states = sink.changes.withLock { $0 }.map { change -> String in
            switch change {
            case .target(let r): return "target:\(r.state):\(r.consecutiveFailures)"
            case .key(let r): return "key:\(r.state)"
            }
        }
        #expect(states == ["target:open:2", "target:half_open:2", "target:closed:0", "key:disabled", "key:active"])
        if case .key(let record) = sink.changes.withLock({ $0[3] }) {
            #expect(record.lastError?.contains("abcdefghijklmn") == false, "secrets are scrubbed")
        }
    }

    @Test func restoreKeepsOpenCircuitsAndRefusedKeys() {
        let monitor = HealthMonitor(configuration: .init(failureThreshold: 3, cooldown: .seconds(30)))
        let t0 = ContinuousClock.now
        monitor.restore(
            targets: [
                HealthRecord(provider: "p", upstreamModel: "m", state: "open", consecutiveFailures: 4, lastError: "x", updatedAtMillis: 1),
                HealthRecord(provider: "p", upstreamModel: "ok", state: "closed", consecutiveFailures: 0, lastError: nil, updatedAtMillis: 1),
            ],
            disabledKeys: [KeyHealthRecord(provider: "p", keyID: "k", state: "disabled", lastError: "401", updatedAtMillis: 1)],
            now: t0)
        #expect(!monitor.isAvailable(target, now: t0.advanced(by: .seconds(29))))
        #expect(monitor.isAvailable(TargetID(provider: "p", upstreamModel: "ok"), now: t0))
        #expect(!monitor.isKeyUsable(UpstreamKeyRef(provider: "p", keyID: "k"), now: t0))
    }
}

struct KeyHealthEngineTests {
    let logger = Logger(label: "test")

    @Test func a429RestsTheKeyNotTheProvider() async throws {
        let keysSeen = Mutex<[String]>([])
        let adapter = FakeAdapter { call, _ throws(GatewayError) in
            keysSeen.withLock { $0.append(call.apiKey ?? "-") }
            if call.apiKey == "sk-1" { throw .upstream(status: 429, message: "slow down", provider: "a", retryAfterSeconds: 30) }
            return FakeAdapter.ok()
        }
        let clock = ManualClock()
        let health = HealthMonitor(configuration: .init(failureThreshold: 1, cooldown: .seconds(60)), clock: clock)
        let e = engine(
            providers: [("a", adapter)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])],
            clock: clock, health: health, keys: ["a": ["sk-1", "sk-2"]])
        for _ in 0..<4 { _ = try await e.chat(request("m"), principal: .anonymous, logger: logger) }
        #expect(keysSeen.withLock { $0 } == ["sk-1", "sk-2", "sk-2", "sk-2", "sk-2"])
        #expect(health.snapshot(TargetID(provider: "a", upstreamModel: "x")).state == .closed, "the circuit stays closed")
        #expect(health.keySnapshot(UpstreamKeyRef(provider: "a", keyID: "0"), now: clock.now).state == "cooling")
        clock.advance(.seconds(31))
        _ = try await e.chat(request("m"), principal: .anonymous, logger: logger)
        #expect(keysSeen.withLock { $0.suffix(2) } == ["sk-1", "sk-2"], "the rested key is used again")
    }

    @Test func allKeysRestingSkipsTheProviderAndAloneIs429() async throws {
        let limited = FakeAdapter { _, _ throws(GatewayError) in
            throw .upstream(status: 429, message: "slow down", provider: "a", retryAfterSeconds: 12)
        }
        let other = FakeAdapter()
        let clock = ManualClock()
        let e = engine(
            providers: [("a", limited), ("b", other)],
            models: [
                ModelConfig(name: "m", targets: [.init(provider: "a", model: "x", priority: 0), .init(provider: "b", model: "y", priority: 1)]),
                ModelConfig(name: "only-a", targets: [.init(provider: "a", model: "x")]),
            ],
            clock: clock, keys: ["a": ["sk-1"]])
        _ = try await e.chat(request("m"), principal: .anonymous, logger: logger)
        _ = try await e.chat(request("m"), principal: .anonymous, logger: logger)
        #expect(limited.callCount == 1 && other.callCount == 2, "a provider whose keys all rest is skipped")
        do {
            _ = try await e.chat(request("only-a"), principal: .anonymous, logger: logger)
            Issue.record("expected 429")
        } catch {
            #expect(error.status == 429 && error.retryAfterSeconds == 12)
        }
        #expect(limited.callCount == 1)
    }

    @Test func a401DisablesTheKeyUntilAProbeSucceeds() async throws {
        let refused = Mutex(true)
        let adapter = FakeAdapter { call, _ throws(GatewayError) in
            if call.apiKey == "sk-bad" && refused.withLock({ $0 }) { throw .upstream(status: 401, message: "invalid key", provider: "a") }
            return FakeAdapter.ok()
        }
        adapter.probeBehaviour.withLock {
            $0 = { key throws(GatewayError) in
                if key == "sk-bad" && refused.withLock({ $0 }) { throw .upstream(status: 401, message: "invalid key", provider: "a") }
            }
        }
        let clock = ManualClock()
        let e = engine(
            providers: [("a", adapter)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])],
            clock: clock, keys: ["a": ["sk-bad", "sk-good"]])
        _ = try await e.chat(request("m"), principal: .anonymous, logger: logger)
        let badKey = UpstreamKeyRef(provider: "a", keyID: "0")
        #expect(e.health.keySnapshot(badKey, now: clock.now).state == "disabled")
        for _ in 0..<3 { _ = try await e.chat(request("m"), principal: .anonymous, logger: logger) }
        #expect(adapter.calls.withLock { $0.filter { $0.apiKey == "sk-bad" }.count } == 1)
        await e.runActiveChecks(logger: logger)
        #expect(e.health.keySnapshot(badKey, now: clock.now).state == "disabled", "a failing probe keeps it disabled")
        refused.withLock { $0 = false }
        await e.runActiveChecks(logger: logger)
        #expect(e.health.keySnapshot(badKey, now: clock.now).state == "active")
        #expect(adapter.probes.withLock { $0 }.filter { $0 == "sk-bad" }.count == 2)
    }

    @Test func activeChecksCloseACircuitWithoutTraffic() async throws {
        let down = Mutex(true)
        let adapter = FakeAdapter { _, _ throws(GatewayError) in
            if down.withLock({ $0 }) { throw .upstreamUnreachable("refused", provider: "a") }
            return FakeAdapter.ok()
        }
        adapter.probeBehaviour.withLock {
            $0 = { _ throws(GatewayError) in if down.withLock({ $0 }) { throw .upstreamUnreachable("refused", provider: "a") } }
        }
        let clock = ManualClock()
        let health = HealthMonitor(configuration: .init(failureThreshold: 1, cooldown: .seconds(3600)), clock: clock)
        var routing = RoutingSettings()
        routing.maxAttempts = 1
        let e = engine(
            providers: [("a", adapter)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])],
            routing: routing, clock: clock, health: health)
        _ = try? await e.chat(request("m"), principal: .anonymous, logger: logger)
        let target = TargetID(provider: "a", upstreamModel: "x")
        #expect(health.snapshot(target).state == .open)
        await e.runActiveChecks(logger: logger)
        #expect(health.snapshot(target).state == .open)
        down.withLock { $0 = false }
        await e.runActiveChecks(logger: logger)
        #expect(health.snapshot(target).state == .closed)
        #expect(adapter.callCount == 1, "no user traffic was needed")
        let report = e.healthReport()
        #expect(report.providers.first?.targets.first?.state == "closed" && report.providers.first?.lastCheckAt != nil)
    }

    @Test func attemptsAreRecordedInTheLogAndRouteInfo() async throws {
        let broken = FakeAdapter { _, _ throws(GatewayError) in throw .upstream(status: 503, message: "overloaded", provider: "a") }
        let good = FakeAdapter()
        let sink = MemoryLogSink()
        let e = engine(
            providers: [("a", broken), ("b", good)],
            models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x", priority: 0), .init(provider: "b", model: "y", priority: 1)])],
            sink: sink, keys: ["a": ["sk-a"]])
        let result = try await e.chat(request("m"), principal: .anonymous, logger: logger)
        #expect(result.route.provider == "b" && result.route.upstreamModel == "y" && result.route.attempts == 2)
        let details = try #require(sink.all.first?.attemptDetails)
        #expect(details.map(\.provider) == ["a", "b"])
        #expect(details[0].status == 503 && details[0].error?.contains("overloaded") == true && details[0].keyID == "0")
        #expect(details[1].status == 200 && details[1].error == nil && details[1].keyID == nil)
    }

    @Test func aRateLimitedPanicAttemptAnswers429NotA503() async throws {
        let limited = FakeAdapter { _, _ throws(GatewayError) in
            throw .upstream(status: 429, message: "slow down", provider: "a", retryAfterSeconds: 60)
        }
        let clock = ManualClock()
        let health = HealthMonitor(configuration: .init(failureThreshold: 1, cooldown: .seconds(600)), clock: clock)
        health.recordFailure(TargetID(provider: "a", upstreamModel: "x"), error: .timeout("t"), now: clock.now)
        let e = engine(
            providers: [("a", limited)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])],
            clock: clock, health: health, keys: ["a": ["sk-1"]])
        do {
            _ = try await e.chat(request("m"), principal: .anonymous, logger: logger)
            Issue.record("expected 429")
        } catch {
            #expect(error.status == 429 && error.retryAfterSeconds == 60)
        }
    }

    @Test func overheadExcludesUpstreamWait() async throws {
        let clock = ManualClock()
        let adapter = FakeAdapter { _, n throws(GatewayError) in
            clock.advance(.milliseconds(n == 1 ? 50 : 70))
            if n == 1 { throw .upstream(status: 500, message: "x", provider: "a") }
            return FakeAdapter.ok()
        }
        var routing = RoutingSettings()
        routing.maxAttempts = 2
        let e = engine(
            providers: [("a", adapter)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])],
            routing: routing, clock: clock)
        let inbound = request("m", receivedAt: clock.now)
        let route = try await e.chat(inbound, principal: .anonymous, logger: logger).route
        let backoff = clock.sleeps.withLock { $0.reduce(Duration.zero, +) }
        #expect(route.overhead == backoff, "the only gateway time on a manual clock is the backoff sleep")
        #expect(route.overhead <= .milliseconds(2))
    }

    @Test func aStreamBreakingMidwayCountsAgainstItsTarget() async throws {
        struct Breaking: AsyncSequence, Sendable {
            typealias Element = ProviderStreamEvent
            struct AsyncIterator: AsyncIteratorProtocol {
                var sent = false
                mutating func next() async throws -> ProviderStreamEvent? {
                    if sent { throw GatewayError.upstreamUnreachable("reset", provider: "a") }
                    sent = true
                    return .part(.chunk(ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [.init(index: 0, delta: .init(content: "x"))])))
                }
            }
            func makeAsyncIterator() -> AsyncIterator { AsyncIterator() }
        }
        let adapter = FakeAdapter(stream: { _ throws(GatewayError) in ProviderStream(events: ErasedAsyncSequence(Breaking())) })
        let health = HealthMonitor(configuration: .init(failureThreshold: 1, cooldown: .seconds(60)))
        let e = engine(
            providers: [("a", adapter)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])], health: health)
        guard case .stream(let stream, _) = try await e.chat(request("m", stream: true), principal: .anonymous, logger: logger) else {
            Issue.record("expected a stream")
            return
        }
        await #expect(throws: GatewayError.self) { try await stream.forEach { _ in } }
        #expect(health.snapshot(TargetID(provider: "a", upstreamModel: "x")).state == .open)
    }

    @Test func neverTheSameTargetTwiceInARowWhenAnotherIsAvailable() async throws {
        let order = Mutex<[String]>([])
        let failing = { (name: String) in
            FakeAdapter { _, _ throws(GatewayError) in
                order.withLock { $0.append(name) }
                throw .upstream(status: 500, message: "x", provider: name)
            }
        }
        var routing = RoutingSettings()
        routing.maxAttempts = 5
        let health = HealthMonitor(configuration: .init(failureThreshold: 100, cooldown: .seconds(1)))
        let e = engine(
            providers: [("a", failing("a")), ("b", failing("b"))],
            models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x"), .init(provider: "b", model: "y")])],
            routing: routing, health: health)
        _ = try? await e.chat(request("m"), principal: .anonymous, logger: logger)
        let seen = order.withLock { $0 }
        #expect(seen.count == 5)
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0 != $1 })
    }
}

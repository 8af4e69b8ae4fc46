import Logging
import OrchestratorCore
import Synchronization
import Testing

@testable import Balancing

/// A clock whose monotonic and wall time move together, only when told.
final class LimiterClock: GatewayClock {
    private let state: Mutex<(now: ContinuousClock.Instant, millis: Int64)>

    init(millis: Int64 = 1_767_225_600_000) {  // 2026-01-01T00:00:00Z
        state = Mutex((ContinuousClock.now, millis))
    }

    var now: ContinuousClock.Instant { state.withLock { $0.now } }
    var epochMillis: Int64 { state.withLock { $0.millis } }
    func advance(_ d: Duration) {
        state.withLock {
            $0.now = $0.now.advanced(by: d)
            $0.millis += d.totalMilliseconds
        }
    }
    func sleep(until deadline: ContinuousClock.Instant) async throws {}
}

struct KeyLimiterTests {
    static func key(_ limits: KeyLimits, id: String = "k1") -> Principal {
        Principal(keyID: id, name: "team", limits: limits)
    }

    /// Admits or returns the refusal.
    static func attempt(_ limiter: KeyLimiter, _ principal: Principal, tokens: Int = 10) -> Result<KeyAdmission?, GatewayError> {
        do {
            return .success(try limiter.admit(principal) { tokens })
        } catch {
            return .failure(error)
        }
    }

    static func refusal(_ result: Result<KeyAdmission?, GatewayError>) -> GatewayError? {
        if case .failure(let error) = result { return error }
        return nil
    }

    @Test func unlimitedKeysKeepNoState() throws {
        let limiter = KeyLimiter(clock: LimiterClock())
        #expect(try limiter.admit(Self.key(.none)) { Issue.record("no estimate needed"); return 0 } == nil)
    }

    @Test func aBurstGetsExactlyTheMinutesRequestsThenOneEveryInterval() throws {
        let clock = LimiterClock()
        let limiter = KeyLimiter(clock: clock)
        let key = Self.key(KeyLimits(rpm: 60))
        var admitted: [KeyAdmission] = []
        var refused: [GatewayError] = []
        for _ in 0..<100 {
            switch Self.attempt(limiter, key) {
            case .success(let admission): admitted.append(try #require(admission))
            case .failure(let error): refused.append(error)
            }
        }
        #expect(admitted.count == 60 && refused.count == 40)
        let first = try #require(admitted.first?.status?.requests)
        #expect(first.limit == 60 && first.remaining == 59 && first.reset == .seconds(1))
        #expect(admitted.last?.status?.requests?.remaining == 0)
        let error = try #require(refused.first)
        #expect(error.status == 429 && error.code == "rate_limit_exceeded" && error.type == "rate_limit_error")
        #expect(error.retryAfterSeconds == 1)
        #expect(error.rateLimit?.requests?.remaining == 0 && error.rateLimit?.requests?.reset == .seconds(60))

        // The window edge: one interval later exactly one more fits, a nanosecond before none.
        clock.advance(.seconds(1) - .nanoseconds(1))
        #expect(Self.refusal(Self.attempt(limiter, key)) != nil)
        clock.advance(.nanoseconds(1))
        #expect(Self.refusal(Self.attempt(limiter, key)) == nil)
        #expect(Self.refusal(Self.attempt(limiter, key)) != nil)
        // A quiet minute refills the whole burst, and no more.
        clock.advance(.seconds(120))
        var burst = 0
        while Self.refusal(Self.attempt(limiter, key)) == nil { burst += 1 }
        #expect(burst == 60)
    }

    @Test func tokensAreChargedByEstimateAndCorrectedByUsage() throws {
        let clock = LimiterClock()
        let limiter = KeyLimiter(clock: clock)
        let key = Self.key(KeyLimits(tpm: 1_000))
        let first = try #require(try limiter.admit(key) { 400 })
        #expect(first.status?.tokens?.remaining == 600)
        _ = try #require(try limiter.admit(key) { 400 })
        // 200 left: a 400-token request waits for 200 tokens at 1,000 a minute = 12 s.
        let refused = try #require(Self.refusal(Self.attempt(limiter, key, tokens: 400)))
        #expect(refused.code == "rate_limit_exceeded" && refused.retryAfterSeconds == 12)
        #expect(refused.rateLimit?.tokens?.remaining == 200)
        // The first used only 100 tokens: 300 come back.
        first.settle(tokens: 100, costMicros: 0)
        #expect(Self.refusal(Self.attempt(limiter, key, tokens: 400)) == nil)
        // Usage beyond the estimate is charged too, into debt that time repays.
        let big = try #require(try limiter.admit(Self.key(KeyLimits(tpm: 1_000), id: "k2")) { 100 })
        big.settle(tokens: 1_600, costMicros: 0)
        #expect(Self.refusal(Self.attempt(limiter, Self.key(KeyLimits(tpm: 1_000), id: "k2"), tokens: 1)) != nil)
        clock.advance(.seconds(37))  // -600 + 616 tokens
        #expect(Self.refusal(Self.attempt(limiter, Self.key(KeyLimits(tpm: 1_000), id: "k2"), tokens: 1)) == nil)
        // A request larger than the whole minute can never fit.
        let tooLarge = try #require(Self.refusal(Self.attempt(limiter, Self.key(KeyLimits(tpm: 1_000), id: "k3"), tokens: 1_001)))
        #expect(tooLarge.code == "tokens_limit_exceeded" && tooLarge.retryAfterSeconds == nil)
    }

    @Test func concurrencySlotsComeBackOnSettleAndOnDrop() throws {
        let limiter = KeyLimiter(clock: LimiterClock())
        let key = Self.key(KeyLimits(maxConcurrency: 2))
        let a = try #require(try limiter.admit(key) { 0 })
        var b: KeyAdmission? = try limiter.admit(key) { 0 }
        #expect(b != nil)
        let refused = try #require(Self.refusal(Self.attempt(limiter, key)))
        #expect(refused.code == "concurrency_limit_exceeded" && refused.retryAfterSeconds == 1)
        a.settle(tokens: 5, costMicros: 0)
        a.settle(tokens: 5, costMicros: 0)  // a second settle changes nothing
        #expect(limiter.inFlight(keyID: "k1") == 1)
        #expect(limiter.spent(keyID: "k1").tokens == 5)
        b = nil  // a stream that never ran
        #expect(b == nil && limiter.inFlight(keyID: "k1") == 0)
    }

    /// Whatever mix of settles, drops and refusals many tasks produce, every slot returns.
    @Test(arguments: [1, 2, 3, 7]) func slotsAreAlwaysReleased(seed: UInt64) async throws {
        let limiter = KeyLimiter(clock: LimiterClock())
        let key = Self.key(KeyLimits(maxConcurrency: 3))
        let peak = Peak()
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var random = SplitMix64(seed: seed &* 31 &+ UInt64(task))
                    for _ in 0..<500 {
                        guard let admission = try? limiter.admit(key, estimatedTokens: { 1 }) else { continue }
                        // Read under the limiter's lock: never more than the limit.
                        peak.note(limiter.inFlight(keyID: "k1"))
                        if random.next() % 3 != 0 { admission.settle(tokens: 1, costMicros: 1) }
                        if random.next() % 5 == 0 { await Task.yield() }
                    }
                }
            }
        }
        #expect(limiter.inFlight(keyID: "k1") == 0)
        #expect(peak.highest <= 3 && peak.highest >= 1)
    }

    @Test func budgetsStopAKeyUntilTheNextPeriod() throws {
        let clock = LimiterClock(millis: 1_767_268_800_000)  // 2026-01-01T12:00:00Z
        let limiter = KeyLimiter(clock: clock)
        let key = Self.key(KeyLimits(budgetMicros: 1_000_000, budgetPeriod: .daily))
        try #require(try limiter.admit(key) { 0 }).settle(tokens: 10, costMicros: 600_000)
        try #require(try limiter.admit(key) { 0 }).settle(tokens: 10, costMicros: 600_000)
        let refused = try #require(Self.refusal(Self.attempt(limiter, key)))
        #expect(refused.status == 429 && refused.code == "insufficient_quota" && refused.type == "insufficient_quota")
        #expect(refused.retryAfterSeconds == 12 * 3600, "until midnight UTC")
        clock.advance(.seconds(12 * 3600))
        #expect(Self.refusal(Self.attempt(limiter, key)) == nil, "a new day, a new budget")

        let tokens = Self.key(KeyLimits(budgetTokens: 100, budgetPeriod: .total), id: "t")
        try #require(try limiter.admit(tokens) { 0 }).settle(tokens: 100, costMicros: 0)
        let out = try #require(Self.refusal(Self.attempt(limiter, tokens)))
        #expect(out.code == "insufficient_quota" && out.retryAfterSeconds == nil)

        // Usage stored before a restart counts.
        let seeded = Self.key(KeyLimits(budgetMicros: 5_000_000, budgetPeriod: .monthly), id: "s")
        limiter.seed(keyID: "s", periodStart: BudgetPeriod.monthly.start(containing: clock.epochMillis), micros: 5_000_000, tokens: 0)
        #expect(Self.refusal(Self.attempt(limiter, seeded))?.code == "insufficient_quota")
        // A refusal by one limit charges nothing to the others.
        let both = Self.key(KeyLimits(rpm: 1, budgetMicros: 1, budgetPeriod: .total), id: "b")
        limiter.seed(keyID: "b", periodStart: 0, micros: 1, tokens: 0)
        #expect(Self.refusal(Self.attempt(limiter, both))?.code == "insufficient_quota")
        limiter.seed(keyID: "b", periodStart: 0, micros: 0, tokens: 0)
        #expect(Self.refusal(Self.attempt(limiter, both)) == nil, "the refused request did not use the minute's one request")
    }

    @Test func periodsFollowTheUTCCalendar() {
        func millis(_ y: Int64, _ m: Int64, _ d: Int64, _ h: Int64 = 0) -> Int64 {
            BudgetPeriod.daysSinceEpoch(year: y, month: m, day: d) * 86_400_000 + h * 3_600_000
        }
        #expect(millis(1970, 1, 1) == 0)
        #expect(millis(2026, 1, 1) == 1_767_225_600_000)
        #expect(BudgetPeriod.daily.start(containing: millis(2026, 3, 5, 23)) == millis(2026, 3, 5))
        #expect(BudgetPeriod.daily.end(containing: millis(2026, 3, 5, 23)) == millis(2026, 3, 6))
        #expect(BudgetPeriod.monthly.start(containing: millis(2026, 1, 31, 23)) == millis(2026, 1, 1))
        #expect(BudgetPeriod.monthly.end(containing: millis(2026, 1, 31, 23)) == millis(2026, 2, 1))
        #expect(BudgetPeriod.monthly.end(containing: millis(2028, 2, 29, 12)) == millis(2028, 3, 1), "leap year")
        #expect(BudgetPeriod.monthly.end(containing: millis(2026, 12, 31, 23)) == millis(2027, 1, 1))
        #expect(BudgetPeriod.monthly.start(containing: millis(1969, 12, 15)) == millis(1969, 12, 1))
        #expect(BudgetPeriod.total.start(containing: millis(2026, 6, 1)) == 0 && BudgetPeriod.total.end(containing: 5) == nil)
    }

    @Test func headersReadLikeOpenAIs() {
        #expect(RateLimitStatus.durationText(.milliseconds(20)) == "20ms")
        #expect(RateLimitStatus.durationText(.seconds(1)) == "1s")
        #expect(RateLimitStatus.durationText(.milliseconds(6_500)) == "6.5s")
        #expect(RateLimitStatus.durationText(.seconds(90)) == "1m30s")
        #expect(RateLimitStatus.durationText(.seconds(360)) == "6m0s")
        let status = RateLimitStatus(
            requests: .init(limit: 60, remaining: 59, reset: .seconds(1)), tokens: .init(limit: 1000, remaining: -5, reset: .zero))
        #expect(status.headerFields.map { "\($0.name): \($0.value)" } == [
            "x-ratelimit-limit-requests: 60", "x-ratelimit-remaining-requests: 59", "x-ratelimit-reset-requests: 1s",
            "x-ratelimit-limit-tokens: 1000", "x-ratelimit-remaining-tokens: 0", "x-ratelimit-reset-tokens: 0ms",
        ])
    }
}

/// Providers' own rpm/tpm caps keep the gateway under each upstream account's limits.
struct ProviderCapTests {
    let logger = Logger(label: "test")

    @Test func aCappedProviderFailsOverThenAnswers429() async throws {
        let a = FakeAdapter()
        let b = FakeAdapter()
        let model = ModelConfig(
            name: "m", targets: [.init(provider: "a", model: "x", priority: 0), .init(provider: "b", model: "y", priority: 1)])
        let clock = ManualClock()
        let e = engine(providers: [("a", a), ("b", b)], models: [model], clock: clock, caps: ["a": (rpm: 2, tpm: 0)])
        for _ in 0..<3 { _ = try await e.chat(request("m"), principal: .anonymous, logger: logger) }
        #expect(a.callCount == 2 && b.callCount == 1, "the third request fails over to b")

        let only = engine(providers: [("a", FakeAdapter())], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])],
            clock: clock, caps: ["a": (rpm: 2, tpm: 0)])
        for _ in 0..<2 { _ = try await only.chat(request("m"), principal: .anonymous, logger: logger) }
        do {
            _ = try await only.chat(request("m"), principal: .anonymous, logger: logger)
            Issue.record("expected 429")
        } catch {
            #expect(error.status == 429 && error.code == "upstream_rate_limited")
            #expect(error.retryAfterSeconds == 30, "one request every 30 s at 2 rpm")
            #expect(error.message.contains("Provider a"))
        }
        // A request larger than a provider's whole minute of tokens skips it too.
        let tokens = engine(providers: [("a", FakeAdapter()), ("b", FakeAdapter())], models: [model], caps: ["a": (rpm: 0, tpm: 1)])
        let result = try await tokens.chat(request("m"), principal: .anonymous, logger: logger)
        #expect(result.route.provider == "b")
    }
}

/// The highest value seen, from many tasks.
final class Peak: Sendable {
    private let value = Mutex(0)
    func note(_ seen: Int) { value.withLock { $0 = max($0, seen) } }
    var highest: Int { value.withLock { $0 } }
}

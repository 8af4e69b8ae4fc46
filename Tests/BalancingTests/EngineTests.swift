import Logging
import NIOCore
import OrchestratorCore
import OrchestratorTesting
import Synchronization
import Testing

@testable import Balancing

struct EngineTests {
    let logger = Logger(label: "test")

    @Test func resolvesAliasesAndDirectAddressing() async throws {
        let a = FakeAdapter()
        let sink = MemoryLogSink()
        let e = engine(
            providers: [("openai", a)], models: [ModelConfig(name: "fast", targets: [.init(provider: "openai", model: "gpt-4o-mini")])],
            sink: sink)
        _ = try await e.chat(request("fast"), principal: .anonymous, logger: logger)
        _ = try await e.chat(request("openai/gpt-4o"), principal: .anonymous, logger: logger)
        #expect(a.calls.withLock { $0.map(\.target.model) } == ["gpt-4o-mini", "gpt-4o"])
        let rows = sink.all
        #expect(rows.map(\.model) == ["fast", "openai/gpt-4o"])
        #expect(rows.allSatisfy { $0.status == 200 && $0.provider == "openai" && $0.attempts == 1 })
        #expect(rows[0].upstreamModel == "gpt-4o-mini" && rows[0].promptTokens == 10 && rows[0].completionTokens == 5)
    }

    @Test func exactAliasBeatsDirectAddressing() async throws {
        let a = FakeAdapter()
        let e = engine(
            providers: [("openai", a)],
            models: [ModelConfig(name: "openai/gpt-4o", targets: [.init(provider: "openai", model: "gpt-4o-2024-08-06")])])
        _ = try await e.chat(request("openai/gpt-4o"), principal: .anonymous, logger: logger)
        #expect(a.calls.withLock { $0[0].target.model } == "gpt-4o-2024-08-06")
    }

    @Test func unknownModelIs404AndLogged() async throws {
        let sink = MemoryLogSink()
        let e = engine(providers: [("openai", FakeAdapter())], models: [], sink: sink)
        for model in ["nope", "missing/x", "openai/"] {
            do {
                _ = try await e.chat(request(model), principal: .anonymous, logger: logger)
                Issue.record("expected 404 for \(model)")
            } catch {
                #expect(error.status == 404 && error.code == "model_not_found")
            }
        }
        #expect(sink.all.map(\.status) == [404, 404, 404])
    }

    @Test func keysMayOnlyUseTheirModels() async throws {
        let e = engine(providers: [("p", FakeAdapter())], models: [ModelConfig(name: "secret", targets: [.init(provider: "p", model: "m")])])
        let principal = Principal(keyID: "k", name: "k", allowedModels: ["public-*"])
        do {
            _ = try await e.chat(request("secret"), principal: principal, logger: logger)
            Issue.record("expected 403")
        } catch {
            #expect(error.status == 403)
        }
        #expect(e.models(for: principal).isEmpty)
        #expect(e.models(for: .anonymous).map(\.id) == ["secret"])
    }

    @Test func failsOverOnRetryableErrors() async throws {
        let broken = FakeAdapter { _, _ throws(GatewayError) in throw .upstream(status: 500, message: "boom", provider: "broken") }
        let good = FakeAdapter()
        let sink = MemoryLogSink()
        let clock = ManualClock()
        let e = engine(
            providers: [("broken", broken), ("good", good)],
            models: [ModelConfig(name: "m", targets: [.init(provider: "broken", model: "b", priority: 0), .init(provider: "good", model: "g", priority: 1)])],
            clock: clock, sink: sink)
        _ = try await e.chat(request("m"), principal: .anonymous, logger: logger)
        #expect(broken.callCount == 1 && good.callCount == 1)
        #expect(sink.all[0].attempts == 2 && sink.all[0].provider == "good" && sink.all[0].status == 200)
        #expect(clock.sleeps.withLock { $0.count } == 1, "backs off once between attempts")
    }

    @Test func clientErrorsAreNotRetried() async throws {
        let bad = FakeAdapter { _, _ throws(GatewayError) in throw .upstream(status: 400, message: "bad param", provider: "a") }
        let other = FakeAdapter()
        let e = engine(
            providers: [("a", bad), ("b", other)],
            models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x", priority: 0), .init(provider: "b", model: "y", priority: 1)])])
        do {
            _ = try await e.chat(request("m"), principal: .anonymous, logger: logger)
            Issue.record("expected the upstream's 400")
        } catch {
            #expect(error.status == 400 && error.message.contains("bad param"))
        }
        #expect(other.callCount == 0)
    }

    @Test func stopsAtMaxAttemptsWithAClearError() async throws {
        let flaky = FakeAdapter { _, _ throws(GatewayError) in throw .upstream(status: 503, message: "overloaded", provider: "a") }
        var routing = RoutingSettings()
        routing.maxAttempts = 2
        let sink = MemoryLogSink()
        let e = engine(
            providers: [("a", flaky)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])], routing: routing,
            sink: sink)
        do {
            _ = try await e.chat(request("m"), principal: .anonymous, logger: logger)
            Issue.record("expected a failure")
        } catch {
            #expect(error.status == 502)
            #expect(error.message.contains("overloaded"))
        }
        #expect(flaky.callCount == 2)
        #expect(sink.all.first?.attempts == 2 && sink.all.first?.status == 502)
    }

    @Test func allRateLimitedIs429WithTheSmallestRetryAfter() async throws {
        let a = FakeAdapter { _, _ throws(GatewayError) in throw .upstream(status: 429, message: "a", provider: "a", retryAfterSeconds: 40) }
        let b = FakeAdapter { _, _ throws(GatewayError) in throw .upstream(status: 429, message: "b", provider: "b", retryAfterSeconds: 20) }
        var routing = RoutingSettings()
        routing.maxAttempts = 2
        routing.timeoutSeconds = 30
        let e = engine(
            providers: [("a", a), ("b", b)],
            models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x", priority: 0), .init(provider: "b", model: "y", priority: 1)])],
            routing: routing)
        do {
            _ = try await e.chat(request("m"), principal: .anonymous, logger: logger)
            Issue.record("expected 429")
        } catch {
            #expect(error.status == 429 && error.retryAfterSeconds == 20)
        }
    }

    @Test func upstreamAuthFailureFailsOverAndIsNeverA401() async throws {
        let refused = FakeAdapter { _, _ throws(GatewayError) in throw .upstream(status: 401, message: "invalid key", provider: "a") }
        let good = FakeAdapter()
        let e = engine(
            providers: [("a", refused), ("b", good)],
            models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x", priority: 0), .init(provider: "b", model: "y", priority: 1)])])
        _ = try await e.chat(request("m"), principal: .anonymous, logger: logger)
        #expect(good.callCount == 1)
        let alone = engine(providers: [("a", refused)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])])
        do {
            _ = try await alone.chat(request("m"), principal: .anonymous, logger: logger)
            Issue.record("expected a failure")
        } catch {
            #expect(error.status == 502)
        }
    }

    @Test func rejectedRequestsAreLogged() async throws {
        let sink = MemoryLogSink()
        let e = engine(providers: [], models: [], sink: sink)
        await e.recordRejected(
            RejectedRequest(
                requestID: "r1", principal: Principal(keyID: "k", name: "n"), style: .openai, model: "m", stream: true,
                receivedAtMillis: 5, receivedAt: .now, error: .invalidRequest("bad", param: "x")))
        let row = try #require(sink.all.first)
        #expect(row.status == 400 && row.model == "m" && row.keyID == "k" && row.attempts == 0 && row.stream && row.errorMessage == "bad")
    }

    @Test func retryAfterIsHonouredWithinTheDeadline() async throws {
        let limited = FakeAdapter { _, n throws(GatewayError) in
            if n == 1 { throw .upstream(status: 429, message: "slow down", provider: "a", retryAfterSeconds: 2) }
            return FakeAdapter.ok()
        }
        let clock = ManualClock()
        let e = engine(providers: [("a", limited)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])], clock: clock)
        _ = try await e.chat(request("m"), principal: .anonymous, logger: logger)
        #expect(clock.sleeps.withLock { $0 } == [.seconds(2)])
    }

    @Test func capabilitiesFilterTargets() async throws {
        let plain = FakeAdapter()
        let capable = FakeAdapter()
        var textOnly = TargetConfig(provider: "plain", model: "p", priority: 0)
        textOnly.capabilities = []
        var tooling = TargetConfig(provider: "capable", model: "c", priority: 1)
        tooling.capabilities = [.tools]
        let e = engine(providers: [("plain", plain), ("capable", capable)], models: [ModelConfig(name: "m", targets: [textOnly, tooling])])
        _ = try await e.chat(request("m", tools: true), principal: .anonymous, logger: logger)
        #expect(plain.callCount == 0 && capable.callCount == 1)
        do {
            _ = try await e.chat(request("m", image: true), principal: .anonymous, logger: logger)
            Issue.record("no target has vision")
        } catch {
            #expect(error.status == 400 && error.message.contains("vision"))
        }
    }

    @Test func openCircuitsAreSkipped() async throws {
        let broken = FakeAdapter { _, _ throws(GatewayError) in throw .upstream(status: 502, message: "down", provider: "a") }
        let good = FakeAdapter()
        let clock = ManualClock()
        let health = HealthMonitor(configuration: .init(failureThreshold: 1, cooldown: .seconds(60)), clock: clock)
        let e = engine(
            providers: [("a", broken), ("b", good)],
            models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x", priority: 0), .init(provider: "b", model: "y", priority: 1)])],
            clock: clock, health: health)
        _ = try await e.chat(request("m"), principal: .anonymous, logger: logger)
        #expect(broken.callCount == 1 && good.callCount == 1)
        #expect(health.snapshot(TargetID(provider: "a", upstreamModel: "x")).state == .open)
        for _ in 0..<5 { _ = try await e.chat(request("m"), principal: .anonymous, logger: logger) }
        #expect(broken.callCount == 1, "an open circuit is not tried while another target is healthy")
        // After the cooldown one probe request goes to the broken target again.
        clock.advance(.seconds(61))
        _ = try await e.chat(request("m"), principal: .anonymous, logger: logger)
        #expect(broken.callCount == 2)
    }

    @Test func withEveryCircuitOpenItStillTriesThenAnswers503() async throws {
        let broken = FakeAdapter { _, _ throws(GatewayError) in throw .upstream(status: 502, message: "down", provider: "a") }
        let health = HealthMonitor(configuration: .init(failureThreshold: 1, cooldown: .seconds(60)))
        var routing = RoutingSettings()
        routing.maxAttempts = 1
        let e = engine(
            providers: [("a", broken)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])], routing: routing,
            health: health)
        _ = try? await e.chat(request("m"), principal: .anonymous, logger: logger)
        do {
            _ = try await e.chat(request("m"), principal: .anonymous, logger: logger)
            Issue.record("expected 503")
        } catch {
            #expect(error.status == 503 && error.code == "no_available_target")
            #expect(error.message.contains("down"))
        }
        #expect(broken.callCount == 2, "panic routing tries an open target rather than failing unseen")
    }

    @Test func deadlineStopsRetries() async throws {
        let clock = ManualClock()
        let slow = FakeAdapter { _, _ throws(GatewayError) in
            clock.advance(.seconds(6))
            throw .timeout("attempt timed out")
        }
        var routing = RoutingSettings()
        routing.timeoutSeconds = 10
        routing.maxAttempts = 5
        let e = engine(providers: [("a", slow)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])], routing: routing, clock: clock)
        let inbound = request("m", receivedAt: clock.now)
        do {
            _ = try await e.chat(inbound, principal: .anonymous, logger: logger)
            Issue.record("expected a timeout")
        } catch {
            #expect(error.status == 504)
        }
        #expect(slow.callCount == 2)
    }

    @Test func streamLogsUsageAndTimeToFirstToken() async throws {
        let chunk = ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [.init(index: 0, delta: .init(content: "hi"))])
        let adapter = FakeAdapter(stream: { _ throws(GatewayError) in
            ProviderStream(events: ErasedAsyncSequence(elements: [
                .part(.chunk(chunk)), .outputText(2), .usage(Usage(promptTokens: 3, completionTokens: 1)),
            ]))
        })
        let sink = MemoryLogSink()
        let e = engine(providers: [("a", adapter)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])], sink: sink)
        guard case .stream(let stream, _) = try await e.chat(request("m", stream: true), principal: .anonymous, logger: logger) else {
            Issue.record("expected a stream")
            return
        }
        let parts = Mutex(0)
        try await stream.forEach { _ in parts.withLock { $0 += 1 } }
        #expect(parts.withLock { $0 } == 1)
        let row = try #require(sink.all.first)
        #expect(row.status == 200 && row.stream && row.promptTokens == 3 && row.completionTokens == 1 && !row.tokensEstimated)
        #expect(row.timeToFirstTokenMillis != nil)
    }

    /// An engine whose model `m` streams one chunk and then its usage (3 + 1 tokens).
    private func oneChunkStreamEngine(keys: [String: [String]] = [:]) -> (GatewayEngine, MemoryLogSink) {
        let chunk = ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [.init(index: 0, delta: .init(content: "hi"))])
        let adapter = FakeAdapter(stream: { _ throws(GatewayError) in
            ProviderStream(events: ErasedAsyncSequence(elements: [
                .part(.chunk(chunk)), .usage(Usage(promptTokens: 3, completionTokens: 1)),
            ]))
        })
        let sink = MemoryLogSink()
        let e = engine(
            providers: [("a", adapter)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])], sink: sink,
            keys: keys)
        return (e, sink)
    }

    /// A stream for model `m` from `e`, opened for `principal`.
    private func openStream(_ e: GatewayEngine, principal: Principal = .anonymous) async throws -> ChatStream {
        guard case .stream(let stream, _) = try await e.chat(request("m", stream: true), principal: principal, logger: logger) else {
            throw GatewayError.internalError("expected a stream")
        }
        return stream
    }

    /// A stream of one chunk and its usage from the engine, with the sink of its log row.
    private func oneChunkStream() async throws -> (ChatStream, MemoryLogSink) {
        let (e, sink) = oneChunkStreamEngine()
        return (try await openStream(e), sink)
    }

    @Test func streamEndsForTheClientBeforeItsLogRowIsWritten() async throws {
        let (stream, sink) = try await oneChunkStream()
        let order = Mutex<[String]>([])
        try await stream.forEach(
            { _ in order.withLock { $0.append("part") } },
            afterLast: { order.withLock { $0.append("after last: \(sink.all.count) rows") } })
        #expect(order.withLock { $0 } == ["part", "after last: 0 rows"])
        let row = try #require(sink.all.first)
        #expect(row.status == 200 && row.promptTokens == 3 && row.completionTokens == 1 && !row.tokensEstimated)
    }

    @Test func wholeStreamFreesItsSlotsAndKeyBeforeItsEndReachesTheClient() async throws {
        let (e, sink) = oneChunkStreamEngine(keys: ["a": ["sk-upstream"]])
        // One request at a time for this key: the slot must be free by the time the
        // client has the stream's end, so that its next request is not refused.
        let key = Principal(keyID: "k1", name: "team", limits: KeyLimits(maxConcurrency: 1))
        let stream = try await openStream(e, principal: key)
        let pool = try #require(e.currentTable.providers["a"]?.keys)
        let seen = Mutex<[String]>([])
        let nested = Mutex<ChatStream?>(nil)
        try await stream.forEach(
            { _ in seen.withLock { $0.append("part, leases \(pool.leasesInFlight)") } },
            afterLast: {
                let leases = pool.leasesInFlight
                // The next request, a stream too, is admitted and keeps its own lease.
                var next = "refused"
                if case .stream(let second, _) = try? await e.chat(request("m", stream: true), principal: key, logger: logger) {
                    nested.withLock { $0 = second }
                    next = "admitted"
                }
                seen.withLock { $0.append("after last, leases \(leases), next \(next), rows \(sink.all.count)") }
            })
        #expect(seen.withLock { $0 } == ["part, leases 1", "after last, leases 0, next admitted, rows 0"])
        // The first stream's row is written; its key was not given back a second time,
        // so the open second stream's lease still counts.
        #expect(sink.all.map(\.status) == [200])
        let row = try #require(sink.all.first)
        #expect(row.promptTokens == 3 && row.completionTokens == 1 && !row.tokensEstimated)
        #expect(pool.leasesInFlight == 1)
        let second = try #require(nested.withLock { $0 })
        try await second.forEach { _ in }
        #expect(pool.leasesInFlight == 0)
        #expect(sink.all.map(\.status) == [200, 200])

        // A stream cut short still gives its slot and key back, once.
        let cut = try await openStream(e, principal: key)
        struct Gone: Error {}
        await #expect(throws: Gone.self) { try await cut.forEach { _ in throw Gone() } }
        #expect(pool.leasesInFlight == 0)
        #expect(sink.all.last?.status == 499)
        #expect((try? await e.chat(request("m"), principal: key, logger: logger)) != nil, "the slot came back")
    }

    @Test func completionReachesItsCallerBeforeItsLogRowIsWritten() async throws {
        let sink = MemoryLogSink()
        let e = engine(
            providers: [("a", FakeAdapter())], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])], sink: sink)
        // One request at a time for this key: the slot must be free by the time the
        // client has its answer, so that its next request is not refused.
        let key = Principal(keyID: "k1", name: "team", limits: KeyLimits(maxConcurrency: 1))
        let seen = Mutex<[String]>([])
        let result = try await e.chat(request("m"), principal: key, logger: logger) { body, route in
            var next = "refused"
            if (try? await e.chat(request("m"), principal: key, logger: logger)) != nil { next = "admitted" }
            let id = if case .canonical(let completion) = body { completion.id } else { "raw" }
            // Only the nested request's row is written by now.
            seen.withLock { $0.append("\(id) via \(route.provider), next \(next), rows \(sink.all.count)") }
        }
        #expect(seen.withLock { $0 } == ["c via a, next admitted, rows 1"])
        guard case .completion = result else {
            Issue.record("expected a completion")
            return
        }
        // The nested request's row, then this one's.
        #expect(sink.all.map(\.status) == [200, 200])
        #expect(sink.all.allSatisfy { $0.keyID == "k1" && $0.promptTokens == 10 && $0.completionTokens == 5 })
    }

    @Test func errorsAndStreamsNeverGoThroughCompletionDelivery() async throws {
        let bad = FakeAdapter { _, _ throws(GatewayError) in throw .upstream(status: 400, message: "bad param", provider: "a") }
        let sink = MemoryLogSink()
        let e = engine(providers: [("a", bad)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])], sink: sink)
        let delivered = Mutex(0)
        await #expect(throws: GatewayError.self) {
            _ = try await e.chat(request("m"), principal: .anonymous, logger: logger) { _, _ in delivered.withLock { $0 += 1 } }
        }
        #expect(sink.all.map(\.status) == [400])

        let chunk = ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [.init(index: 0, delta: .init(content: "hi"))])
        let streaming = FakeAdapter(stream: { _ throws(GatewayError) in ProviderStream(events: ErasedAsyncSequence(elements: [.part(.chunk(chunk))])) })
        let s = engine(providers: [("a", streaming)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])])
        let result = try await s.chat(request("m", stream: true), principal: .anonymous, logger: logger) { _, _ in
            delivered.withLock { $0 += 1 }
        }
        guard case .stream = result else {
            Issue.record("expected a stream")
            return
        }
        #expect(delivered.withLock { $0 } == 0)
    }

    @Test func clientGoneAtTheEndOfAWholeStreamIsLoggedAs499WithTheUpstreamsUsage() async throws {
        let (stream, sink) = try await oneChunkStream()
        struct Gone: Error {}
        await #expect(throws: Gone.self) {
            try await stream.forEach({ _ in }, afterLast: { throw Gone() })
        }
        let row = try #require(sink.all.first)
        #expect(row.status == 499)
        // The upstream sent the whole stream and its usage: that is what it cost.
        #expect(row.promptTokens == 3 && row.completionTokens == 1 && !row.tokensEstimated)
    }

    @Test func streamThatFailsUpstreamNeverRunsAfterLast() async throws {
        let chunk = ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [.init(index: 0, delta: .init(content: "hi"))])
        struct FailingAfterOne: AsyncSequence, Sendable {
            typealias Element = ProviderStreamEvent
            let chunk: ChatCompletionChunk
            struct AsyncIterator: AsyncIteratorProtocol {
                let chunk: ChatCompletionChunk
                var sent = false
                mutating func next() async throws -> ProviderStreamEvent? {
                    if sent { throw GatewayError.badUpstreamResponse("cut", provider: "a") }
                    sent = true
                    return .part(.chunk(chunk))
                }
            }
            func makeAsyncIterator() -> AsyncIterator { AsyncIterator(chunk: chunk) }
        }
        let adapter = FakeAdapter(stream: { _ throws(GatewayError) in
            ProviderStream(events: ErasedAsyncSequence(FailingAfterOne(chunk: chunk)))
        })
        let sink = MemoryLogSink()
        let e = engine(providers: [("a", adapter)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])], sink: sink)
        guard case .stream(let stream, _) = try await e.chat(request("m", stream: true), principal: .anonymous, logger: logger) else {
            Issue.record("expected a stream")
            return
        }
        let ranAfterLast = Mutex(false)
        await #expect(throws: GatewayError.self) {
            try await stream.forEach({ _ in }, afterLast: { ranAfterLast.withLock { $0 = true } })
        }
        #expect(!ranAfterLast.withLock { $0 })
        #expect(sink.all.first?.status == 502)
    }

    @Test func streamCutShortByTheClientIsLoggedAs499WithEstimates() async throws {
        let chunks = (0..<5).map { i in
            ProviderStreamEvent.part(.chunk(ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [.init(index: 0, delta: .init(content: "word\(i) "))])))
        }
        let adapter = FakeAdapter(stream: { _ throws(GatewayError) in
            ProviderStream(events: ErasedAsyncSequence(elements: chunks.flatMap { [$0, ProviderStreamEvent.outputText(40)] }))
        })
        let sink = MemoryLogSink()
        let e = engine(providers: [("a", adapter)], models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])], sink: sink)
        guard case .stream(let stream, _) = try await e.chat(request("m", stream: true), principal: .anonymous, logger: logger) else {
            Issue.record("expected a stream")
            return
        }
        struct Gone: Error {}
        let seen = Mutex(0)
        await #expect(throws: Gone.self) {
            try await stream.forEach { _ in
                if seen.withLock({ $0 += 1; return $0 }) == 2 { throw Gone() }
            }
        }
        let row = try #require(sink.all.first)
        #expect(row.status == 499)
        #expect(row.tokensEstimated)
        #expect(row.completionTokens >= 10, "at least the 40 characters seen before the client left")
    }

    @Test func streamFailingBeforeItsFirstPartFailsOver() async throws {
        struct Broken: AsyncSequence, Sendable {
            typealias Element = ProviderStreamEvent
            struct AsyncIterator: AsyncIteratorProtocol {
                mutating func next() async throws -> ProviderStreamEvent? {
                    throw GatewayError.badUpstreamResponse("garbage", provider: "a")
                }
            }
            func makeAsyncIterator() -> AsyncIterator { AsyncIterator() }
        }
        let broken = FakeAdapter(stream: { _ throws(GatewayError) in ProviderStream(events: ErasedAsyncSequence(Broken())) })
        let chunk = ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [.init(index: 0, delta: .init(content: "ok"))])
        let good = FakeAdapter(stream: { _ throws(GatewayError) in ProviderStream(events: ErasedAsyncSequence(elements: [.part(.chunk(chunk))])) })
        let e = engine(
            providers: [("a", broken), ("b", good)],
            models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x", priority: 0), .init(provider: "b", model: "y", priority: 1)])])
        guard case .stream = try await e.chat(request("m", stream: true), principal: .anonymous, logger: logger) else {
            Issue.record("expected a stream")
            return
        }
        #expect(broken.callCount == 1 && good.callCount == 1)
    }

    @Test func tableSwapTakesEffectImmediately() async throws {
        let a = FakeAdapter()
        let e = engine(providers: [("a", a)], models: [])
        await #expect(throws: GatewayError.self) { try await e.chat(request("m"), principal: .anonymous, logger: logger) }
        e.replaceTable(
            RoutingTable(
                providers: [ProviderConfig(name: "a", type: .openai, baseURL: "http://a")],
                models: [ModelConfig(name: "m", targets: [.init(provider: "a", model: "x")])],
                factory: FakeFactory(adapters: ["a": a]), logger: logger))
        _ = try await e.chat(request("m"), principal: .anonymous, logger: logger)
        #expect(a.callCount == 1)
    }

    /// A provider this build cannot route is warned about when it appears, not again at
    /// every live change that keeps it.
    @Test func unroutableProvidersAreWarnedAboutOnce() {
        let capture = LogCapture()
        let logger = capture.logger()
        let configs = [
            ProviderConfig(name: "a", type: .openai, baseURL: "http://a"),
            ProviderConfig(name: "b", type: .openai, baseURL: "http://b"),
        ]
        let factory = FakeFactory(adapters: ["a": FakeAdapter()])
        func warnings() -> [String] { capture.all.filter { $0.contains("provider not routable") } }
        let first = RoutingTable(providers: configs, models: [], factory: factory, logger: logger)
        #expect(warnings().count == 1 && warnings()[0].contains("provider=b"))
        let second = RoutingTable(providers: configs, models: [], factory: factory, previous: first, logger: logger)
        #expect(warnings().count == 1, "unchanged: no new warning")
        #expect(second.unavailableProviders["b"] != nil)
        let third = RoutingTable(
            providers: configs + [ProviderConfig(name: "c", type: .openai, baseURL: "http://c")], models: [], factory: factory,
            previous: second, logger: logger)
        #expect(warnings().count == 2 && warnings()[1].contains("provider=c"))
        _ = RoutingTable(providers: configs, models: [], factory: factory, logger: logger)
        #expect(warnings().count == 3, "without a previous table every one is reported")
        _ = third
    }

    @Test func disabledProvidersAreSkipped() async throws {
        var off = ProviderConfig(name: "off", type: .openai, baseURL: "http://off")
        off.enabled = false
        let adapter = FakeAdapter()
        let table = RoutingTable(
            providers: [off], models: [ModelConfig(name: "m", targets: [.init(provider: "off", model: "x")])],
            factory: FakeFactory(adapters: ["off": adapter]), logger: logger)
        let e = GatewayEngine(
            table: table, configuration: .init(), health: HealthMonitor(configuration: .init(failureThreshold: 3, cooldown: .seconds(1))),
            logSink: MemoryLogSink())
        do {
            _ = try await e.chat(request("m"), principal: .anonymous, logger: logger)
            Issue.record("expected 503")
        } catch {
            #expect(error.status == 503)
        }
    }

    /// The table makes each target's candidate once; a disabled or unknown provider's
    /// targets have none, in a model's list and through `provider/upstream-model` alike.
    @Test func aModelsDisabledTargetsAreLeftOutOfItsOrder() async throws {
        var off = ProviderConfig(name: "off", type: .openai, baseURL: "http://off")
        off.enabled = false
        let on = ProviderConfig(name: "on", type: .openai, baseURL: "http://on")
        let offAdapter = FakeAdapter()
        let onAdapter = FakeAdapter()
        let targets: [TargetConfig] = [
            .init(provider: "off", model: "x", priority: 0), .init(provider: "ghost", model: "y", priority: 0),
            .init(provider: "on", model: "z", priority: 1),
        ]
        let table = RoutingTable(
            providers: [off, on], models: [ModelConfig(name: "m", targets: targets)],
            factory: FakeFactory(adapters: ["off": offAdapter, "on": onAdapter]), logger: logger)
        #expect(table.models["m"]?.candidates.map { $0?.id } == [nil, nil, TargetID(provider: "on", upstreamModel: "z")])
        let e = GatewayEngine(
            table: table, configuration: .init(), health: HealthMonitor(configuration: .init(failureThreshold: 3, cooldown: .seconds(1))),
            logSink: MemoryLogSink())
        for _ in 0..<5 {
            let result = try await e.chat(request("m"), principal: .anonymous, logger: logger)
            #expect(result.route.provider == "on" && result.route.upstreamModel == "z" && result.route.attempts == 1)
        }
        let direct = try await e.chat(request("on/direct"), principal: .anonymous, logger: logger)
        #expect(direct.route.provider == "on" && direct.route.upstreamModel == "direct")
        #expect(onAdapter.calls.withLock { $0.map(\.target.model) } == ["z", "z", "z", "z", "z", "direct"])
        do {
            _ = try await e.chat(request("off/x"), principal: .anonymous, logger: logger)
            Issue.record("expected 503")
        } catch {
            #expect(error.status == 503 && error.code == "no_available_target")
        }
        #expect(offAdapter.calls.withLock { $0.isEmpty })
    }
}

import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OrchestratorCore
import OrchestratorTesting
import Persistence
import Synchronization
import Testing

@testable import Balancing
@testable import orchestratord

/// Outages against real loopback upstreams, through the real server.
@Suite(.serialized)
struct ResilienceTests {
    /// Three sick upstreams; every request must still succeed.
    @Test func chaos() async throws {
        let flakyCount = Mutex(0)
        let limitedCount = Mutex(0)
        let healed = Flag()
        let heal: @Sendable () -> Void = { healed.set() }
        let completion = OpenAIFixtures.completion(content: "ok")
        let models = #"{"object":"list","data":[{"id":"m","object":"model"}]}"#
        try await MockUpstream.withServer({ request in
            if request.uri.hasSuffix("/models") { return .json(200, models) }
            // 500 for a quarter of the requests, in a scrambled (not periodic) order.
            let n = flakyCount.withLock { $0 += 1; return $0 }
            return scrambledQuarter(UInt64(n)) ? .json(500, #"{"error":{"message":"flaky"}}"#) : .json(200, completion)
        }) { flaky in
            try await MockUpstream.withServer({ request in
                if request.uri.hasSuffix("/models") { return .json(200, models) }
                // A 429 with Retry-After for one request in two hundred.
                let n = limitedCount.withLock { $0 += 1; return $0 }
                return n % 200 == 3 ? .json(429, #"{"error":{"message":"rate limited"}}"#, headers: [("Retry-After", "1")]) : .json(200, completion)
            }) { limited in
                try await MockUpstream.withServer({ _ in
                    // Drops every connection until healed.
                    healed.isSet ? .json(200, completion) : .drop
                }) { dropper in
                    // Why flaky fails a quarter of the requests, not half: while the limited
                    // key rests (a second after each 429) and the dropper's circuit lets a
                    // probe through between attempts, a request alternates between the
                    // dropper (always fails) and flaky. On a loaded machine that is a large
                    // share of the run, and with flaky failing half the time the 20 attempts
                    // (10 on flaky) ran out for one request in 2,000 once in CI (a 503 after
                    // panic routing). At a quarter that is about one in a million per request.
                    let yaml = """
                        keys: [{ name: chaos, key: "sk-test-client-000111" }]
                        providers:
                          - { name: flaky, type: openai, base_url: "\(flaky.baseURL)/v1", api_keys: ["sk-f"] }
                          - { name: limited, type: openai, base_url: "\(limited.baseURL)/v1", api_keys: ["sk-l"] }
                          - { name: dropper, type: openai, base_url: "\(dropper.baseURL)/v1", api_keys: ["sk-d"] }
                        models:
                          - name: chat
                            targets:
                              - { provider: flaky, model: f }
                              - { provider: limited, model: l }
                              - { provider: dropper, model: d }
                        routing: { max_attempts: 20, backoff_initial_ms: 1, backoff_max_ms: 4, timeout_s: 30 }
                        health: { check_interval_s: 0, failure_threshold: 3, cooldown_s: 0.2 }
                        """
                    let capture = LogCapture()
                    try await withGateway(yaml, capture: capture) { gateway, url in
                        let tally = Tally()
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            for worker in 0..<32 {
                                group.addTask {
                                    var i = worker
                                    while i < 2000 {
                                        let reply = try await Client.post(url + "/v1/chat/completions", chatRequest)
                                        if tally.record(reply.status) == 700 { heal() }
                                        i += 32
                                    }
                                }
                            }
                            try await group.waitForAll()
                        }
                        #expect(tally.statuses == [200: 2000], "every request succeeds")
                        if tally.statuses != [200: 2000] {
                            // Why a request failed: the engine's line for it and its attempts.
                            let failed = capture.all.filter { $0.contains("request failed") }
                            Issue.record("failures: \(failed.prefix(3))")
                            let ids = failed.compactMap { line in line.split(separator: " ").first { $0.hasPrefix("request.id=") } }
                            for id in ids.prefix(1) {
                                Issue.record("attempts of \(id): \(capture.all.filter { $0.contains(id) })")
                            }
                        }

                        // The dropper's circuit opened while it was broken and closed after healing.
                        let opened = capture.all.filter { $0.contains("circuit opened") && $0.contains("dropper/d") }
                        #expect(!opened.isEmpty)
                        let dropperTarget = TargetID(provider: "dropper", upstreamModel: "d")
                        #expect(gateway.engine.health.snapshot(dropperTarget).state == .closed)

                        // Attempt counts add up: one upstream request per attempt.
                        try await waitForLogRows(gateway, 2000)
                        var query = RequestLogQuery()
                        query.limit = 1000
                        var rows: [RequestLogEntry] = []
                        while true {
                            let page = try await gateway.store.logs(query)
                            rows += page
                            guard page.count == query.limit, let last = page.last else { break }
                            query.cursor = RequestLogCursor(timestampMillis: last.timestampMillis, id: last.id)
                        }
                        #expect(rows.count == 2000)
                        #expect(rows.allSatisfy { $0.status == 200 && $0.attempts == $0.attemptDetails.count })
                        let upstreamRequests =
                            flaky.count(pathSuffix: "/chat/completions") + limited.count(pathSuffix: "/chat/completions")
                            + dropper.count(pathSuffix: "/chat/completions")
                        #expect(rows.reduce(0) { $0 + $1.attempts } == upstreamRequests)
                        #expect(rows.contains { $0.attempts > 1 }, "failures were retried")
                        #expect(rows.contains { row in row.attemptDetails.contains { $0.status == 429 } })
                    }
                }
            }
        }
    }

    @Test func activeChecksAloneBringAProviderBack() async throws {
        let down = Mutex(true)
        try await MockUpstream.withServer({ request in
            if down.withLock({ $0 }) { return .json(503, #"{"error":{"message":"maintenance"}}"#) }
            return request.uri.hasSuffix("/models") ? .json(200, #"{"object":"list","data":[]}"#) : .json(200, OpenAIFixtures.completion())
        }) { upstream in
            let yaml = """
                keys: [{ name: t, key: "sk-test-client-000111" }]
                admin: { key: "admin-key-123" }
                providers: [{ name: solo, type: openai, base_url: "\(upstream.baseURL)/v1", api_keys: ["sk-u"] }]
                models: [{ name: chat, targets: [{ provider: solo, model: s }] }]
                routing: { max_attempts: 1 }
                health: { check_interval_s: 0.05, failure_threshold: 1, cooldown_s: 3600 }
                """
            try await withGateway(yaml) { gateway, url in
                let failed = try await Client.post(url + "/v1/chat/completions", chatRequest)
                #expect(failed.status == 502)
                let target = TargetID(provider: "solo", upstreamModel: "s")
                #expect(gateway.engine.health.snapshot(target).state == .open)
                let chatRequestsBefore = upstream.count(pathSuffix: "/chat/completions")
                down.withLock { $0 = false }
                let deadline = ContinuousClock.now + .seconds(10)
                while gateway.engine.health.snapshot(target).state != .closed && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(gateway.engine.health.snapshot(target).state == .closed)
                #expect(upstream.count(pathSuffix: "/chat/completions") == chatRequestsBefore, "no user traffic")
                #expect(upstream.count(pathSuffix: "/models") > 0)
                let health = try await Client.get(url + "/admin/health", headers: [("Authorization", "Bearer admin-key-123")])
                let provider = health.json?["providers"]?.arrayValue?.first
                #expect(provider?["targets"]?.arrayValue?.first?["state"] == "closed")
                #expect(provider?["last_check_at"]?.stringValue != nil)
                #expect(upstream.requests.last?.header("authorization") == "Bearer sk-u")
            }
        }
    }

    @Test func openCircuitsAndRefusedKeysSurviveARestart() async throws {
        let directory = NSTemporaryDirectory() + "orch-health-" + RequestID.generate()
        try await MockUpstream.withServer({ request in
            request.header("authorization") == "Bearer sk-refused"
                ? .json(401, #"{"error":{"message":"invalid key"}}"#) : .json(500, #"{"error":{"message":"down"}}"#)
        }) { upstream in
            let yaml = """
                keys: [{ name: t, key: "sk-test-client-000111" }]
                admin: { key: "admin-key-123" }
                database: { url: "sqlite://\(directory)/gw.db" }
                providers:
                  - { name: broken, type: openai, base_url: "\(upstream.baseURL)/v1", api_keys: ["sk-fine"] }
                  - { name: keyed, type: openai, base_url: "\(upstream.baseURL)/v1", api_keys: ["sk-refused"] }
                models:
                  - { name: chat, targets: [{ provider: broken, model: b }] }
                  - { name: keyed-chat, targets: [{ provider: keyed, model: k }] }
                routing: { max_attempts: 1 }
                health: { check_interval_s: 0, failure_threshold: 1, cooldown_s: 3600 }
                """
            try await withGateway(yaml) { _, url in
                _ = try await Client.post(url + "/v1/chat/completions", chatRequest)
                _ = try await Client.post(url + "/v1/chat/completions", #"{"model":"keyed-chat","messages":[{"role":"user","content":"x"}]}"#)
            }
            try await withGateway(yaml) { gateway, url in
                #expect(gateway.engine.health.snapshot(TargetID(provider: "broken", upstreamModel: "b")).state == .open)
                let health = try await Client.get(url + "/admin/health", headers: [("Authorization", "Bearer admin-key-123")])
                let providers = health.json?["providers"]?.arrayValue ?? []
                #expect(health.json?["status"] == "degraded")
                let keyed = providers.first { $0["name"] == "keyed" }
                #expect(keyed?["keys"]?.arrayValue?.first?["state"] == "disabled")
                #expect(keyed?["keys"]?.arrayValue?.first?["last4"] == "used")
                #expect(!health.body.contains("sk-refused"))
            }
        }
    }

    @Test func upstreamKilledMidStreamLeavesPartialStreamErrorEventAndLogRow() async throws {
        let events = OpenAIFixtures.chunks(["one ", "two ", "three "], usage: false)
        var pieces: [MockUpstream.Response.Piece] = events.prefix(3).flatMap {
            [MockUpstream.Response.Piece.bytes(ByteBuffer(string: "data: \($0)\n\n")), .delay(.milliseconds(5))]
        }
        pieces.append(.close)
        let response = MockUpstream.Response(status: 200, headers: [("Content-Type", "text/event-stream")], pieces: pieces)
        try await MockUpstream.withServer({ _ in response }) { upstream in
            try await withGateway(gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL)) { gateway, url in
                let reply = try await Client.post(url + "/v1/chat/completions", streamRequest)
                #expect(reply.status == 200)
                #expect(reply.body.contains("one ") && reply.body.contains("two "))
                #expect(!reply.body.contains("three "))
                let lastEvent = reply.body.components(separatedBy: "\n\n").filter { !$0.isEmpty }.last ?? ""
                #expect(lastEvent.hasPrefix(#"data: {"error":{"#))
                #expect(lastEvent.contains("upstream"))
                try await waitForLogRows(gateway, 1)
                let row = try #require(try await gateway.store.logs(RequestLogQuery()).first)
                #expect(row.status == 502 && row.stream && row.tokensEstimated)
                #expect(row.errorMessage?.isEmpty == false)
                #expect(row.attempts == 1, "no retry once bytes reached the client")
                #expect(reply.headers.first(name: "x-orchestrator-attempts") == "1")
                #expect(reply.headers.first(name: "x-orchestrator-provider") == "primary")
                let overhead = try #require(reply.headers.first(name: "x-orchestrator-overhead-ms").flatMap(Double.init))
                #expect(overhead >= 0 && overhead < 5_000)
            }
        }
    }
}

/// Counts replies by status across concurrent workers.
final class Tally: Sendable {
    private let state = Mutex<(done: Int, statuses: [Int: Int])>((0, [:]))

    /// Records a reply; returns how many were recorded so far.
    func record(_ status: Int) -> Int {
        state.withLock {
            $0.statuses[status, default: 0] += 1
            $0.done += 1
            return $0.done
        }
    }

    var statuses: [Int: Int] { state.withLock { $0.statuses } }
}

final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// True for about a quarter of `n`, in an order that looks random but is a pure
/// function of `n` (SplitMix64's finaliser).
func scrambledQuarter(_ n: UInt64) -> Bool {
    SplitMix64.mix(n &* SplitMix64.increment) & 3 == 3
}

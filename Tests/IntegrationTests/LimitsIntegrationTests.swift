import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OrchestratorCore
import Persistence
import Testing

@testable import orchestratord

/// Client keys' limits through the real server: requests per minute, concurrency and
/// budgets, with OpenAI's 429 shape and `x-ratelimit-*` headers.
@Suite(.serialized)
struct LimitsIntegrationTests {
    static let config = """
        admin: { key: "\(AdminIntegrationTests.adminKey)" }
        keys:
          - { name: limited, key: "sk-limited-rpm-000111", rpm: 60 }
          - { name: budget, key: "sk-budget-key-000222", budget_usd: 0.000001, budget_period: daily }
          - { name: narrow, key: "sk-narrow-conc-000333", max_concurrency: 2 }
          - { name: free, key: "sk-free-key-000444" }
          - { name: single, key: "sk-single-conc-000555", max_concurrency: 1 }
        providers:
          - { name: demo, type: mock, mock: { reply: "mock says hi" } }
          - { name: slow, type: mock, mock: { reply: "slowly", latency_ms: 400 } }
        models:
          - name: chat
            targets: [{ provider: demo, model: mock-1 }]
            price: { input_per_mtok: 1000, output_per_mtok: 2000 }
          - name: slow
            targets: [{ provider: slow, model: mock-1 }]
        routing: { max_attempts: 1, timeout_s: 20 }
        """

    static let chat = #"{"model":"chat","messages":[{"role":"user","content":"hello there"}]}"#

    static func post(_ url: String, key: String, body: String = chat) async throws -> Client.Reply {
        try await Client.post(url + "/v1/chat/completions", body, headers: [("Authorization", "Bearer \(key)")])
    }

    @Test func aBurstOf100Gets60AndProper429s() async throws {
        try await withGateway(Self.config) { gateway, url in
            let started = ContinuousClock.now
            let replies = try await withThrowingTaskGroup(of: Client.Reply.self) { group in
                for _ in 0..<100 { group.addTask { try await Self.post(url, key: "sk-limited-rpm-000111") } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // 60 at once, then one more per second the burst lasted: on a loaded machine a
            // burst of 100 can take longer than a second, and the bucket refills meanwhile.
            let refills = Int((started.duration(to: .now) / .seconds(1)).rounded(.up))
            let ok = replies.filter { $0.status == 200 }
            let limited = replies.filter { $0.status == 429 }
            #expect((60...60 + refills).contains(ok.count) && limited.count == 100 - ok.count, "\(replies.map(\.status))")
            #expect(ok.allSatisfy { $0.headers.first(name: "x-ratelimit-limit-requests") == "60" })
            let remaining = ok.compactMap { $0.headers.first(name: "x-ratelimit-remaining-requests").flatMap(Int.init) }
            #expect(Set(remaining) == Set(0..<60), "each admitted request saw one less left")
            let refusal = try #require(limited.first)
            #expect(refusal.headers.first(name: "retry-after") == "1")
            #expect(refusal.headers.first(name: "x-ratelimit-remaining-requests") == "0")
            // A full minute's worth is owed, less the moments since the burst.
            let reset = try #require(refusal.headers.first(name: "x-ratelimit-reset-requests"))
            #expect(reset == "1m0s" || reset.hasPrefix("59."), "\(reset)")
            #expect(refusal.json?["error"]?["type"] == .string("rate_limit_error"))
            #expect(refusal.json?["error"]?["code"] == .string("rate_limit_exceeded"))
            // Another key is not affected, and a key without limits gets no such headers.
            let free = try await Self.post(url, key: "sk-free-key-000444")
            #expect(free.status == 200 && free.headers.first(name: "x-ratelimit-limit-requests") == nil)
            // Every refusal is in the request log.
            try await waitForLogRows(gateway, 101)
            let stats = try await AdminIntegrationTests.send(.GET, url + "/admin/stats?group_by=key")
            let row = stats.json?["data"]?.arrayValue?.first { $0["key_name"] == .string("limited") }
            #expect(row?["errors_by_class"]?["rate_limited"] == .int(Int64(limited.count)))
        }
    }

    @Test func aBudgetThatRunsOutStopsTheKey() async throws {
        try await withGateway(Self.config) { gateway, url in
            #expect(try await Self.post(url, key: "sk-budget-key-000222").status == 200)
            // The key's document shows what it used (written with the log batch).
            try await waitForLogRows(gateway, 1)
            let doc = try await AdminIntegrationTests.send(.GET, url + "/admin/keys/budget")
            #expect((doc.json?["usage"]?["tokens"]?.intValue ?? 0) > 0, "\(doc.body)")
            #expect((doc.json?["usage"]?["cost_usd"]?.doubleValue ?? 0) > 0)
            #expect(doc.json?["last_used_at"]?.stringValue != nil)
            let out = try await Self.post(url, key: "sk-budget-key-000222")
            #expect(out.status == 429, "\(out.body)")
            #expect(out.json?["error"]?["code"] == .string("insufficient_quota"))
            #expect(out.json?["error"]?["type"] == .string("insufficient_quota"))
            let retry = try #require(out.headers.first(name: "retry-after").flatMap(Int.init))
            #expect(retry > 0 && retry <= 86_400, "until the next UTC day")
            #expect(try await Self.post(url, key: "sk-free-key-000444").status == 200)
        }
    }

    /// The spending of a budgeted key survives a restart: it is read back from the rollups.
    @Test func spendingIsRememberedAcrossARestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("orch-limits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = Self.config + "\ndatabase: { url: \"sqlite://\(directory.path)/gateway.db\" }\n"
        try await withGateway(config) { _, url in
            let first = try await Self.post(url, key: "sk-budget-key-000222")
            #expect(first.status == 200)
        }
        try await withGateway(config) { _, url in
            let out = try await Self.post(url, key: "sk-budget-key-000222")
            #expect(out.status == 429 && out.json?["error"]?["code"] == .string("insufficient_quota"), "\(out.body)")
        }
    }

    /// A completion, or a stream's end, is written before its row and metrics, but its
    /// key's slot is freed before it is written: a client that sends as soon as it has
    /// its answer is never refused.
    @Test func aKeyWithOneSlotServesBackToBackRequests() async throws {
        let stream = #"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hello there"}]}"#
        try await withGateway(Self.config) { gateway, url in
            for index in 0..<40 {
                let streamed = index % 2 == 1
                let reply = try await Self.post(url, key: "sk-single-conc-000555", body: streamed ? stream : Self.chat)
                #expect(reply.status == 200, "request \(index): \(reply.body)")
                if streamed { #expect(reply.body.hasSuffix("data: [DONE]\n\n"), "request \(index): \(reply.body)") }
            }
            try await waitForLogRows(gateway, 40)
            let rows = try await gateway.store.logs(RequestLogQuery())
            #expect(rows.count == 40 && rows.allSatisfy { $0.status == 200 && $0.keyName == "single" && $0.completionTokens > 0 })
            #expect(rows.filter(\.stream).count == 20)
        }
    }

    @Test func concurrencyIsCappedAndEverySlotComesBack() async throws {
        try await withGateway(Self.config) { _, url in
            let slow = #"{"model":"slow","messages":[{"role":"user","content":"hi"}]}"#
            let replies = try await withThrowingTaskGroup(of: Client.Reply.self) { group in
                for _ in 0..<5 { group.addTask { try await Self.post(url, key: "sk-narrow-conc-000333", body: slow) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.filter { $0.status == 200 }.count == 2, "\(replies.map(\.status))")
            let refused = replies.filter { $0.status == 429 }
            #expect(refused.count == 3)
            #expect(refused.allSatisfy { $0.json?["error"]?["code"] == .string("concurrency_limit_exceeded") })
            // Slots come back after completions, errors and streams alike.
            let stream = #"{"model":"slow","stream":true,"messages":[{"role":"user","content":"hi"}]}"#
            #expect(try await Self.post(url, key: "sk-narrow-conc-000333", body: stream).status == 200)
            let unknown = #"{"model":"nope","messages":[{"role":"user","content":"hi"}]}"#
            #expect(try await Self.post(url, key: "sk-narrow-conc-000333", body: unknown).status == 404)
            let again = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<2 { group.addTask { try await Self.post(url, key: "sk-narrow-conc-000333", body: slow).status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(again == [200, 200])
        }
    }
}

/// `server.max_in_flight`: the excess of a flood is refused at once, the admitted
/// requests finish, and the gateway serves normally afterwards.
@Suite(.serialized)
struct OverloadIntegrationTests {
    static let config = """
        server: { max_in_flight: 4 }
        keys: [{ name: tester, key: "sk-test-client-000111" }]
        providers: [{ name: slow, type: mock, mock: { reply: "slowly", latency_ms: 8000 } }]
        models: [{ name: slow, targets: [{ provider: slow, model: mock-1 }] }]
        routing: { max_attempts: 1, timeout_s: 30 }
        """

    @Test func aFloodBeyondTheCapIsShedQuickly() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        do {
            try await flood(client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    func flood(_ client: HTTPClient) async throws {
        try await withGateway(Self.config) { _, url in
            struct Outcome: Sendable {
                var status: Int
                var code: String?
                var retryAfter: String?
                var seconds: Double
            }
            let outcomes = try await withThrowingTaskGroup(of: Outcome.self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        var request = HTTPClientRequest(url: url + "/v1/chat/completions")
                        request.method = .POST
                        request.headers.add(name: "Authorization", value: "Bearer sk-test-client-000111")
                        request.headers.add(name: "Content-Type", value: "application/json")
                        request.body = .bytes(ByteBuffer(string: #"{"model":"slow","messages":[{"role":"user","content":"hi"}]}"#))
                        let start = ContinuousClock.now
                        let response = try await client.execute(request, timeout: .seconds(30))
                        let body = try await response.body.collect(upTo: 1 << 20)
                        let json = try? JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView))
                        return Outcome(
                            status: Int(response.status.code), code: json?["error"]?["code"]?.stringValue,
                            retryAfter: response.headers.first(name: "retry-after"),
                            seconds: Double(start.duration(to: .now).totalMilliseconds) / 1000)
                    }
                }
                return try await group.reduce(into: [Outcome]()) { $0.append($1) }
            }
            let served = outcomes.filter { $0.status == 200 }
            let shed = outcomes.filter { $0.status == 503 }
            #expect(served.count + shed.count == 40, "\(outcomes.map(\.status))")
            #expect(served.count >= 4 && shed.count >= 20, "served \(served.count), shed \(shed.count)")
            #expect(shed.allSatisfy { $0.code == "overloaded" && $0.retryAfter == "1" })
            // Refused without waiting for the upstream's 8 s. (The upstream is that slow so
            // that the bound has room: at the start of a run on a loaded 2-core machine the
            // parallel suites can hold the client's and the gateway's threads for seconds;
            // 1.5 s against a bound of 1 s failed there.)
            #expect(shed.allSatisfy { $0.seconds < 6.0 }, "\(shed.map(\.seconds))")
            // Every slot came back: with a leak of even one of the four, four more at
            // once could not all be served.
            let after = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await Client.post(url + "/v1/chat/completions", #"{"model":"slow","messages":[{"role":"user","content":"again"}]}"#).status
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(after == [200, 200, 200, 200])
        }
    }
}

import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OrchestratorCore
import OrchestratorTesting
import Synchronization
import Testing

@testable import orchestratord

/// The real server on a loopback port, against real mock upstream servers.
@Suite(.serialized)
struct GatewayIntegrationTests {
    @Test func nonStreamCompletionPassesThrough() async throws {
        try await MockUpstream.withServer({ _ in .json(200, OpenAIFixtures.completion(content: "from primary")) }) { primary in
            try await MockUpstream.withServer({ _ in .json(500, "{}") }) { secondary in
                try await withGateway(gatewayConfig(primary: primary.baseURL, secondary: secondary.baseURL)) { gateway, url in
                    let reply = try await Client.post(url + "/v1/chat/completions", chatRequest)
                    #expect(reply.status == 200)
                    #expect(reply.body == OpenAIFixtures.completion(content: "from primary"), "same-style bytes come back unchanged")
                    #expect(reply.headers.first(name: "x-request-id") != nil)
                    let upstreamRequest = try #require(primary.requests.first)
                    #expect(upstreamRequest.uri == "/v1/chat/completions")
                    #expect(upstreamRequest.header("authorization") == "Bearer sk-upstream-secret-aaaa")
                    #expect(upstreamRequest.bodyString == #"{"model":"up-model-1","messages":[{"role":"user","content":"hello"}]}"#)
                    #expect(secondary.requests.isEmpty)

                    try await waitForLogRows(gateway, 1)
                    let row = try #require(try await gateway.store.logs(RequestLogQuery()).first)
                    #expect(row.model == "chat" && row.provider == "primary" && row.upstreamModel == "up-model-1")
                    #expect(row.status == 200 && row.attempts == 1 && !row.stream)
                    #expect(row.promptTokens == 9 && row.completionTokens == 12 && !row.tokensEstimated)
                    #expect(row.costMicros == 33, "9 × $1 + 12 × $2 per 1M tokens")
                    #expect(row.requestID == reply.headers.first(name: "x-request-id"))
                    #expect(row.keyName == "tester")
                }
            }
        }
    }

    @Test func streamRelaysEventsAndStripsTheUsageChunk() async throws {
        let events = OpenAIFixtures.chunks(["Hel", "lo", "!"])
        try await MockUpstream.withServer({ _ in .sse(events, delay: .milliseconds(2)) }) { primary in
            try await withGateway(gatewayConfig(primary: primary.baseURL, secondary: primary.baseURL)) { gateway, url in
                let reply = try await Client.post(url + "/v1/chat/completions", streamRequest)
                #expect(reply.status == 200)
                #expect(reply.headers.first(name: "content-type") == "text/event-stream")
                let dataLines = reply.body.components(separatedBy: "\n\n").filter { !$0.isEmpty }
                #expect(dataLines.count == events.count, "every event but the usage-only one, plus [DONE]")
                #expect(dataLines.last == "data: [DONE]")
                #expect(!reply.body.contains(#""usage""#))
                let upstreamBody = try #require(primary.requests.first?.bodyString)
                #expect(upstreamBody.contains(#""stream_options":{"include_usage":true}"#))

                let withUsage = try await Client.post(
                    url + "/v1/chat/completions",
                    #"{"model":"chat","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#)
                #expect(withUsage.body.contains(#""usage""#))

                try await waitForLogRows(gateway, 2)
                let rows = try await gateway.store.logs(RequestLogQuery())
                #expect(rows.allSatisfy { $0.stream && $0.status == 200 && $0.promptTokens == 9 && $0.completionTokens == 12 })
                #expect(rows.allSatisfy { $0.timeToFirstTokenMillis != nil })
            }
        }
    }

    @Test func upstream500FailsOverToTheSecondProvider() async throws {
        try await MockUpstream.withServer({ _ in .json(500, #"{"error":{"message":"primary exploded"}}"#) }) { primary in
            try await MockUpstream.withServer({ _ in .json(200, OpenAIFixtures.completion(content: "from secondary")) }) { secondary in
                try await withGateway(gatewayConfig(primary: primary.baseURL, secondary: secondary.baseURL)) { gateway, url in
                    let reply = try await Client.post(url + "/v1/chat/completions", chatRequest)
                    #expect(reply.status == 200)
                    #expect(reply.body.contains("from secondary"))
                    #expect(primary.requests.count == 1 && secondary.requests.count == 1)
                    #expect(secondary.requests[0].bodyString.contains(#""model":"up-model-2""#))
                    #expect(secondary.requests[0].header("authorization") == "Bearer sk-upstream-secret-bbbb")
                    try await waitForLogRows(gateway, 1)
                    let row = try #require(try await gateway.store.logs(RequestLogQuery()).first)
                    #expect(row.attempts == 2 && row.provider == "secondary" && row.status == 200)
                }
            }
        }
    }

    @Test func garbageFromEveryUpstreamIsA502WithAClearMessage() async throws {
        try await MockUpstream.withServer({ _ in .text(200, "<html>Bad Gateway</html>", contentType: "text/html") }) { bad in
            try await withGateway(gatewayConfig(primary: bad.baseURL, secondary: bad.baseURL)) { gateway, url in
                let reply = try await Client.post(url + "/v1/chat/completions", chatRequest)
                #expect(reply.status == 502)
                let error = try #require(reply.json?["error"])
                #expect(error["code"] == "bad_upstream_response")
                #expect(error["message"]?.stringValue?.contains("not a chat completion") == true)
                #expect(bad.requests.count == 3, "max_attempts")
                try await waitForLogRows(gateway, 1)
                let row = try #require(try await gateway.store.logs(RequestLogQuery()).first)
                #expect(row.status == 502 && row.attempts == 3 && row.errorMessage != nil)
            }
        }
    }

    @Test func upstreamClientErrorIsReturnedUnchangedWithoutFailover() async throws {
        try await MockUpstream.withServer({ _ in
            .json(400, #"{"error":{"message":"'messages' is too long","type":"invalid_request_error"}}"#)
        }) { primary in
            try await MockUpstream.withServer({ _ in .json(200, OpenAIFixtures.completion()) }) { secondary in
                try await withGateway(gatewayConfig(primary: primary.baseURL, secondary: secondary.baseURL)) { _, url in
                    let reply = try await Client.post(url + "/v1/chat/completions", chatRequest)
                    #expect(reply.status == 400)
                    #expect(reply.json?["error"]?["message"]?.stringValue?.contains("'messages' is too long") == true)
                    #expect(secondary.requests.isEmpty)
                }
            }
        }
    }

    @Test func unreachableUpstreamFailsOver() async throws {
        try await MockUpstream.withServer({ _ in .json(200, OpenAIFixtures.completion(content: "alive")) }) { alive in
            try await withGateway(gatewayConfig(primary: "http://127.0.0.1:1", secondary: alive.baseURL)) { _, url in
                let reply = try await Client.post(url + "/v1/chat/completions", chatRequest)
                #expect(reply.status == 200 && reply.body.contains("alive"))
            }
        }
    }

    @Test func clientDisconnectMidStreamCancelsTheUpstreamAndIsLogged() async throws {
        let events = OpenAIFixtures.chunks((0..<200).map { "w\($0) " })
        try await MockUpstream.withServer({ _ in .sse(events, delay: .milliseconds(20)) }) { primary in
            try await withGateway(gatewayConfig(primary: primary.baseURL, secondary: primary.baseURL)) { gateway, url in
                // Read a few events, then go away.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        var request = HTTPClientRequest(url: url + "/v1/chat/completions")
                        request.method = .POST
                        request.headers.add(name: "Authorization", value: "Bearer sk-test-client-000111")
                        request.body = .bytes(ByteBuffer(string: streamRequest))
                        let response = try await Client.shared.execute(request, timeout: .seconds(30))
                        var received = 0
                        for try await chunk in response.body {
                            received += chunk.readableBytes
                            if received > 600 { break }
                        }
                    }
                    try await group.waitForAll()
                }
                try await waitForLogRows(gateway, 1, timeout: .seconds(15))
                let row = try #require(try await gateway.store.logs(RequestLogQuery()).first)
                #expect(row.status == 499)
                #expect(row.tokensEstimated)
                #expect(row.completionTokens > 0)
                // The upstream saw its response cut short well before the 200 events (4 s) were sent.
                let deadline = ContinuousClock.now + .seconds(5)
                while primary.interruptedResponses == 0 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(primary.interruptedResponses == 1)
            }
        }
    }

    @Test func midStreamUpstreamFailureEndsWithAnErrorEvent() async throws {
        let events = OpenAIFixtures.chunks(["a", "b"], usage: false)
        var pieces: [MockUpstream.Response.Piece] = events.prefix(2).map { .bytes(ByteBuffer(string: "data: \($0)\n\n")) }
        pieces.append(.close)
        let response = MockUpstream.Response(status: 200, headers: [("Content-Type", "text/event-stream")], pieces: pieces)
        try await MockUpstream.withServer({ _ in response }) { broken in
            try await withGateway(gatewayConfig(primary: broken.baseURL, secondary: broken.baseURL)) { gateway, url in
                let reply = try await Client.post(url + "/v1/chat/completions", streamRequest)
                #expect(reply.status == 200)
                #expect(reply.body.contains(#""content":"a""#))
                #expect(reply.body.contains(#"data: {"error":{"#))
                #expect(!reply.body.contains("[DONE]"))
                try await waitForLogRows(gateway, 1)
                let row = try #require(try await gateway.store.logs(RequestLogQuery()).first)
                #expect(row.status == 502 && row.tokensEstimated)
            }
        }
    }

    @Test func mockProviderAndBadInput() async throws {
        try await withGateway(gatewayConfig(primary: "http://127.0.0.1:1", secondary: "http://127.0.0.1:1")) { gateway, url in
            let mock = try await Client.post(url + "/v1/chat/completions", #"{"model":"demo-model","messages":[{"role":"user","content":"x"}]}"#)
            #expect(mock.status == 200 && mock.json?["choices"]?.arrayValue?.first?["message"]?["content"] == "mock says hi")

            let unknown = try await Client.post(url + "/v1/chat/completions", #"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#)
            #expect(unknown.status == 404 && unknown.json?["error"]?["code"] == "model_not_found")

            let malformed = try await Client.post(url + "/v1/chat/completions", #"{"model":"chat","messages":[{"role":"user","content":"x"}"#)
            #expect(malformed.status == 400 && malformed.json?["error"]?["type"] == "invalid_request_error")

            let wrongType = try await Client.post(url + "/v1/chat/completions", #"{"model":"chat","messages":[{"role":"user","content":"x"}],"max_tokens":"many"}"#)
            #expect(wrongType.status == 400 && wrongType.json?["error"]?["param"] == "max_tokens")

            let noKey = try await Client.post(url + "/v1/chat/completions", chatRequest, headers: [])
            #expect(noKey.status == 401)
            let badKey = try await Client.post(url + "/v1/chat/completions", chatRequest, headers: [("Authorization", "Bearer sk-nope")])
            #expect(badKey.status == 401)

            let huge = #"{"model":"chat","messages":[{"role":"user","content":""# + String(repeating: "x", count: 21 * 1024 * 1024) + #""}]}"#
            let tooLarge = try await Client.post(url + "/v1/chat/completions", huge)
            #expect(tooLarge.status == 413)

            let models = try await Client.get(url + "/v1/models")
            #expect(models.json?["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["chat", "demo-model"])

            try await waitForLogRows(gateway, 5)
            let statuses = try await gateway.store.logs(RequestLogQuery()).map(\.status).sorted()
            #expect(statuses == [200, 400, 400, 404, 413], "every authenticated request is logged; 401s are not")
        }
    }

    @Test func noSecretEverReachesALogLine() async throws {
        let capture = LogCapture()
        let yaml = gatewayConfig(primary: "http://127.0.0.1:1", secondary: "http://127.0.0.1:1", extra: "admin: { key: \"admin-secret-key-42\" }")
        try await MockUpstream.withServer({ _ in
            .json(401, #"{"error":{"message":"Incorrect API key provided: sk-upstream-secret-aaaa"}}"#)
        }) { leaky in
            let config = yaml.replacingOccurrences(of: "http://127.0.0.1:1/v1\", api_keys: [\"sk-upstream-secret-aaaa", with: "\(leaky.baseURL)/v1\", api_keys: [\"sk-upstream-secret-aaaa")
            try await withGateway(config, capture: capture) { _, url in
                _ = try await Client.post(url + "/v1/chat/completions", chatRequest)
                _ = try await Client.post(url + "/v1/chat/completions", chatRequest, headers: [("Authorization", "Bearer sk-wrong-client-key")])
                _ = try await Client.get(url + "/admin/providers", headers: [("Authorization", "Bearer admin-secret-key-42")])
                let admin = try await Client.get(url + "/admin/providers", headers: [("Authorization", "Bearer admin-secret-key-42")])
                #expect(admin.status == 200)
                #expect(!admin.body.contains("sk-upstream-secret"))
            }
        }
        let lines = capture.all
        #expect(lines.count > 5)
        // The engine's lines name the request, its model and its key (by name).
        let failed = lines.filter { $0.contains("request failed") }
        #expect(!failed.isEmpty)
        #expect(failed.allSatisfy { $0.contains("model=chat") && $0.contains("key=") && $0.contains("request.id=") }, "\(failed)")
        for secret in ["sk-test-client-000111", "sk-upstream-secret-aaaa", "sk-upstream-secret-bbbb", "admin-secret-key-42", "sk-wrong-client-key"] {
            #expect(!lines.contains { $0.contains(secret) }, "\(secret) leaked into the logs")
        }
    }

    /// The access line's `http.path` is the path alone: a query (which may carry a key,
    /// `?key=`) never reaches it, on the data plane and on Hummingbird's routes alike.
    /// Both paths' lines carry the request's id (the data plane adds it to the line
    /// itself, not to the request's logger).
    @Test func accessLinesNameThePathWithoutItsQuery() async throws {
        let capture = LogCapture()
        let replyIDs = Mutex<[String]>([])
        try await MockUpstream.withServer({ _ in .json(200, OpenAIFixtures.completion()) }) { upstream in
            let yaml = gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL)
            try await withGateway(yaml, capture: capture) { _, url in
                let chat = try await Client.post(url + "/v1/chat/completions?trace=%3F%C3%A9&x=?", chatRequest)
                #expect(chat.status == 200)
                let models = try await Client.get(url + "/v1/models?limit=5")
                #expect(models.status == 200)
                replyIDs.withLock { $0 = [chat, models].compactMap { $0.headers.first(name: "x-request-id") } }
            }
        }
        let ids = replyIDs.withLock { $0 }
        let access = capture.all.filter { $0.hasPrefix("info request ") }
        #expect(ids.count == 2)
        #expect(
            access.contains {
                $0.contains("http.path=/v1/chat/completions ") && $0.contains("http.status=200")
                    && $0.contains("request.id=\(ids.first ?? "-")")
            }, "\(access)")
        #expect(access.contains { $0.contains("http.path=/v1/models ") && $0.contains("request.id=\(ids.last ?? "-")") }, "\(access)")
        #expect(!access.contains { $0.contains("trace=") || $0.contains("limit=") }, "\(access)")
    }

    @Test func shutdownFlushesEveryLogRowToDisk() async throws {
        let directory = NSTemporaryDirectory() + "orch-it-" + RequestID.generate()
        let yaml = gatewayConfig(primary: "http://127.0.0.1:1", secondary: "http://127.0.0.1:1", extra: "database: { url: \"sqlite://\(directory)/gw.db\" }")
        try await withGateway(yaml) { _, url in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        _ = try await Client.post(url + "/v1/chat/completions", #"{"model":"demo-model","messages":[{"role":"user","content":"x"}]}"#)
                    }
                }
                try await group.waitForAll()
            }
        }
        // Reopen the database after the gateway stopped: all 50 rows are there.
        let secret = try Persistence.SecretKeySource.resolve(environmentValue: nil, databasePath: directory + "/gw.db")
        let store = try await Persistence.SQLStore.open(
            path: directory + "/gw.db", secretBox: try SecretBox(keyData: secret.keyData), logger: Logger(label: "t"))
        #expect(try await store.countLogs() == 50)
        let stored = try await store.loadConfiguration()
        #expect(stored.providers.count == 3, "file providers were synced")
        await store.close()
    }
}

import Persistence

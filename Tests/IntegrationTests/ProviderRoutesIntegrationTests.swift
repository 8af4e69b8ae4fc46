import Foundation
import NIOCore
import NIOHTTP1
import OrchestratorCore
import OrchestratorTesting
import Persistence
import Testing

@testable import orchestratord

/// Gemini-native routes, `/v1/embeddings`, `/v1/responses`, and gemini/azure upstreams
/// through the real server, against real mock upstream servers.
@Suite(.serialized)
struct ProviderRoutesIntegrationTests {
    static let geminiText = #"{"candidates":[{"content":{"role":"model","parts":[{"text":"Bonjour from Gemini"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":4,"totalTokenCount":11},"modelVersion":"gemini-up","responseId":"resp-g1","extraUpstreamField":true}"#

    static let geminiStream = [
        #"{"candidates":[{"content":{"role":"model","parts":[{"text":"Bon"}]},"index":0}],"usageMetadata":{"promptTokenCount":7,"totalTokenCount":7},"modelVersion":"gemini-up","responseId":"resp-g2"}"#,
        #"{"candidates":[{"content":{"role":"model","parts":[{"text":"jour"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":2,"totalTokenCount":9},"modelVersion":"gemini-up","responseId":"resp-g2"}"#,
    ]

    /// Answers as the Gemini API does.
    static func geminiResponder(_ request: MockUpstream.Request) -> MockUpstream.Response {
        guard request.header("x-goog-api-key") == "gemini-upstream-key" else {
            return .json(400, #"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}}"#)
        }
        if request.uri.contains("/models/broken:") {
            return .json(503, #"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#)
        }
        if request.uri.contains(":batchEmbedContents") {
            let count = request.bodyString.components(separatedBy: "\"text\"").count - 1
            let vectors = (0..<count).map { i in #"{"values":[0.5,\#(i).25,-1]}"# }.joined(separator: ",")
            return .json(200, #"{"embeddings":[\#(vectors)]}"#)
        }
        if request.uri.contains(":streamGenerateContent") {
            guard request.uri.hasSuffix("?alt=sse") else { return .json(400, #"{"error":{"code":400,"message":"want sse","status":"INVALID_ARGUMENT"}}"#) }
            return MockUpstream.Response(
                status: 200, headers: [("Content-Type", "text/event-stream")],
                pieces: geminiStream.map { .bytes(ByteBuffer(string: "data: \($0)\r\n\r\n")) })
        }
        return .json(200, geminiText)
    }

    static let responsesBody = #"{"id":"resp_1","object":"response","created_at":1,"status":"completed","model":"gpt-up","output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hi from responses","annotations":[]}]}],"usage":{"input_tokens":6,"input_tokens_details":{"cached_tokens":2},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":9}}"#

    static let responsesEvents: [(String, String)] = [
        ("response.created", #"{"type":"response.created","sequence_number":0,"response":{"id":"resp_2","object":"response","status":"in_progress","output":[]}}"#),
        ("response.output_text.delta", #"{"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi"}"#),
        ("response.completed", #"{"type":"response.completed","sequence_number":2,"response":{"id":"resp_2","object":"response","status":"completed","output":[],"usage":{"input_tokens":6,"output_tokens":1,"total_tokens":7}}}"#),
    ]

    /// Answers as OpenAI does: chat, embeddings and responses.
    static func openAIResponder(_ request: MockUpstream.Request) -> MockUpstream.Response {
        let stream = request.bodyString.contains(#""stream":true"#)
        if request.uri.hasSuffix("/embeddings") || request.uri.contains("/embeddings?") {
            return .json(200, #"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"emb-up","usage":{"prompt_tokens":3,"total_tokens":3}}"#)
        }
        if request.uri.hasSuffix("/responses") {
            if stream {
                return MockUpstream.Response(
                    status: 200, headers: [("Content-Type", "text/event-stream")],
                    pieces: responsesEvents.map { .bytes(ByteBuffer(string: "event: \($0.0)\ndata: \($0.1)\n\n")) })
            }
            return .json(200, responsesBody)
        }
        return stream ? .sse(OpenAIFixtures.chunks(["Hel", "lo"])) : .json(200, OpenAIFixtures.completion(content: "Hi there"))
    }

    static func config(openai: String, gemini: String, azure: String? = nil) -> String {
        """
        keys:
          - { name: tester, key: "sk-test-client-000111" }
        providers:
          - { name: oai, type: openai, base_url: "\(openai)/v1", api_keys: ["sk-upstream-openai-aaaa"] }
          - { name: gem, type: gemini, base_url: "\(gemini)/v1beta", api_keys: ["gemini-upstream-key"] }
          - { name: az, type: azure, base_url: "\(azure ?? openai)", api_version: "2024-10-21", api_keys: ["azure-upstream-key"] }
          - { name: claude, type: anthropic, base_url: "http://127.0.0.1:9", api_keys: ["sk-ant-x"] }
        models:
          - name: gpt
            targets: [{ provider: oai, model: gpt-up }]
          - name: flash
            targets: [{ provider: gem, model: gemini-up }]
          - name: embed
            targets: [{ provider: oai, model: emb-up }]
          - name: gembed
            targets: [{ provider: gem, model: gemini-embedding-001 }]
          - name: embed-failover
            targets: [{ provider: gem, model: broken, priority: 0 }, { provider: oai, model: emb-up, priority: 1 }]
          - name: azure-gpt
            targets: [{ provider: az, model: deploy-1 }]
          - name: sonnet
            targets: [{ provider: claude, model: claude-x }]
        routing: { max_attempts: 3, backoff_initial_ms: 1, backoff_max_ms: 5, timeout_s: 20 }
        """
    }

    static let googKey = [("x-goog-api-key", "sk-test-client-000111")]

    @Test func geminiNativeRoutedToOpenAI() async throws {
        try await MockUpstream.withServer(Self.openAIResponder) { openai in
            try await withGateway(Self.config(openai: openai.baseURL, gemini: "http://127.0.0.1:9")) { _, url in
                let body = #"{"systemInstruction":{"parts":[{"text":"Be kind."}]},"contents":[{"role":"user","parts":[{"text":"hello"}]}],"generationConfig":{"maxOutputTokens":20}}"#
                let reply = try await Client.post(url + "/v1beta/models/gpt:generateContent", body, headers: Self.googKey)
                #expect(reply.status == 200)
                let json = try #require(reply.json)
                #expect(json["candidates"]?.arrayValue?.first?["content"]?["parts"]?.arrayValue?.first?["text"] == .string("Hi there"))
                #expect(json["candidates"]?.arrayValue?.first?["finishReason"] == .string("STOP"))
                #expect(json["usageMetadata"]?["promptTokenCount"] != nil)
                let sent = try JSONCoding.decode(JSONValue.self, from: try #require(openai.requests.last).body)
                #expect(sent["model"] == .string("gpt-up"))
                #expect(sent["messages"]?.arrayValue?.first?["role"] == .string("system"))
                #expect(sent["max_tokens"] == .int(20))

                // Streamed with alt=sse (the key as ?key=): Gemini chunks, \r\n\r\n framed, usage on the last.
                let streamed = try await Client.post(
                    url + "/v1beta/models/gpt:streamGenerateContent?alt=sse&key=sk-test-client-000111", body, headers: [])
                #expect(streamed.status == 200)
                #expect(streamed.headers.first(name: "content-type") == "text/event-stream")
                let events = streamed.body.components(separatedBy: "\r\n\r\n").filter { !$0.isEmpty }
                let chunks = try events.map { try JSONCoding.decode(JSONValue.self, from: String($0.dropFirst("data: ".count))) }
                let text = chunks.compactMap { $0["candidates"]?.arrayValue?.first?["content"]?["parts"]?.arrayValue?.first?["text"]?.stringValue }
                #expect(text.joined() == "Hello")
                #expect(chunks.last?["usageMetadata"] != nil)
                #expect(chunks.last?["candidates"]?.arrayValue?.first?["finishReason"] == .string("STOP"))

                // Without alt=sse: one JSON array.
                let array = try await Client.post(url + "/v1beta/models/gpt:streamGenerateContent", body, headers: Self.googKey)
                #expect(array.status == 200)
                #expect(array.headers.first(name: "content-type") == "application/json")
                #expect((array.json?.arrayValue?.count ?? 0) >= 2)
            }
        }
    }

    @Test func geminiNativeErrorsHaveGeminisShape() async throws {
        try await withGateway(Self.config(openai: "http://127.0.0.1:9", gemini: "http://127.0.0.1:9")) { _, url in
            let body = #"{"contents":[{"role":"user","parts":[{"text":"hello"}]}]}"#
            let cases: [(String, String, [(String, String)], Int, String)] = [
                ("/v1beta/models/nope:generateContent", body, Self.googKey, 404, "NOT_FOUND"),
                ("/v1beta/models/gpt:generateContent", body, [], 401, "UNAUTHENTICATED"),
                ("/v1beta/models/gpt:generateContent", "{not json", Self.googKey, 400, "INVALID_ARGUMENT"),
                ("/v1beta/models/gpt:generateContent", #"{"contents":[]}"#, Self.googKey, 400, "INVALID_ARGUMENT"),
                ("/v1beta/models/gpt:embedContent", body, Self.googKey, 404, "NOT_FOUND"),
                ("/v1beta/models/gpt", body, Self.googKey, 404, "NOT_FOUND"),
            ]
            for (path, request, headers, status, name) in cases {
                let reply = try await Client.post(url + path, request, headers: headers)
                #expect(reply.status == status, "\(path)")
                #expect(reply.json?["error"]?["status"] == .string(name), "\(path): \(reply.body)")
                #expect(reply.json?["error"]?["code"] == .int(Int64(status)), "\(path)")
                #expect(reply.headers.first(name: "x-request-id") != nil)
            }
        }
    }

    @Test func geminiPassThroughAndOpenAIToGemini() async throws {
        try await MockUpstream.withServer(Self.geminiResponder) { gemini in
            try await withGateway(Self.config(openai: "http://127.0.0.1:9", gemini: gemini.baseURL)) { gateway, url in
                let body = #"{"contents":[{"role":"user","parts":[{"text":"hello"}]}],"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]}"#
                let reply = try await Client.post(url + "/v1beta/models/flash:generateContent", body, headers: Self.googKey)
                #expect(reply.status == 200)
                #expect(reply.body == Self.geminiText)
                let upstream = try #require(gemini.requests.last)
                #expect(upstream.uri == "/v1beta/models/gemini-up:generateContent")
                #expect(upstream.bodyString == body)
                #expect(upstream.header("x-goog-api-key") == "gemini-upstream-key")
                #expect(upstream.header("authorization") == nil)

                let streamed = try await Client.post(url + "/v1beta/models/flash:streamGenerateContent?alt=sse", body, headers: Self.googKey)
                #expect(streamed.body.contains(#""responseId":"resp-g2""#))
                #expect(streamed.body.components(separatedBy: "data: ").count == 3)

                // An OpenAI client on the same Gemini model: translated both ways.
                let chat = try await Client.post(
                    url + "/v1/chat/completions", #"{"model":"flash","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#)
                #expect(chat.status == 200)
                #expect(chat.body.contains(#""content":"Bon""#))
                #expect(chat.body.contains(#""finish_reason":"stop""#))
                #expect(chat.body.contains(#""total_tokens":9"#))
                #expect(chat.body.hasSuffix("data: [DONE]\n\n"))
                try await waitForLogRows(gateway, 3)
                var query = RequestLogQuery()
                query.model = "flash"
                let rows = try await gateway.store.logs(query)
                #expect(rows.count == 3)
                #expect(rows.allSatisfy { $0.provider == "gem" && $0.status == 200 && !$0.tokensEstimated })
                #expect(rows.contains { $0.apiStyle == "gemini" && $0.promptTokens == 7 && $0.completionTokens == 4 })
            }
        }
    }

    @Test func embeddingsRouteAndFailOver() async throws {
        try await MockUpstream.withServer(Self.openAIResponder) { openai in
            try await MockUpstream.withServer(Self.geminiResponder) { gemini in
                try await withGateway(Self.config(openai: openai.baseURL, gemini: gemini.baseURL)) { gateway, url in
                    let passed = try await Client.post(url + "/v1/embeddings", #"{"model":"embed","input":"hello","dimensions":2}"#)
                    #expect(passed.status == 200)
                    #expect(passed.json?["model"] == .string("emb-up"))
                    let sent = try JSONCoding.decode(JSONValue.self, from: try #require(openai.requests.last).body)
                    #expect(sent == JSONValue.object(["model": "emb-up", "input": "hello", "dimensions": 2]))
                    #expect(openai.requests.last?.uri == "/v1/embeddings")

                    let translated = try await Client.post(
                        url + "/v1/embeddings", #"{"model":"gembed","input":["a","b","c"],"encoding_format":"float"}"#)
                    #expect(translated.status == 200)
                    let data = try #require(translated.json?["data"]?.arrayValue)
                    #expect(data.count == 3)
                    #expect(data[2]["embedding"]?.arrayValue?.compactMap(\.doubleValue) == [0.5, 2.25, -1])
                    #expect(gemini.requests.last?.uri == "/v1beta/models/gemini-embedding-001:batchEmbedContents")

                    // The Gemini target is overloaded (503): the OpenAI one answers.
                    let failover = try await Client.post(url + "/v1/embeddings", #"{"model":"embed-failover","input":"x"}"#)
                    #expect(failover.status == 200)
                    #expect(failover.json?["model"] == .string("emb-up"))
                    #expect(failover.headers.first(name: "x-orchestrator-attempts") == "2")

                    let unsupported = try await Client.post(url + "/v1/embeddings", #"{"model":"sonnet","input":"x"}"#)
                    #expect(unsupported.status == 400)
                    #expect(unsupported.json?["error"]?["code"] == .string("unsupported_operation"))
                    let bad = try await Client.post(url + "/v1/embeddings", #"{"model":"embed","input":[]}"#)
                    #expect(bad.status == 400)
                    #expect(bad.json?["error"]?["param"] == .string("input"))
                    let unknown = try await Client.post(url + "/v1/embeddings", #"{"model":"nope","input":"x"}"#)
                    #expect(unknown.status == 404)
                    let tokens = try await Client.post(url + "/v1/embeddings", #"{"model":"gembed","input":[1,2,3]}"#)
                    #expect(tokens.status == 400)
                    #expect(tokens.json?["error"]?["param"] == .string("input"))
                    // Token ids skip the Gemini target instead of failing on it.
                    let skipped = try await Client.post(url + "/v1/embeddings", #"{"model":"embed-failover","input":[[1,2]]}"#)
                    #expect(skipped.status == 200)
                    #expect(skipped.headers.first(name: "x-orchestrator-provider") == "oai")
                    #expect(skipped.headers.first(name: "x-orchestrator-attempts") == "1")

                    try await waitForLogRows(gateway, 8)
                    var query = RequestLogQuery()
                    query.model = "gembed"
                    let rows = try await gateway.store.logs(query)
                    #expect(rows.contains { $0.status == 200 && $0.tokensEstimated && $0.promptTokens > 0 && $0.completionTokens == 0 })
                    query.model = "embed"
                    #expect(try await gateway.store.logs(query).contains { $0.promptTokens == 3 && !$0.tokensEstimated })
                }
            }
        }
    }

    @Test func responsesAndAzure() async throws {
        try await MockUpstream.withServer(Self.openAIResponder) { openai in
            try await withGateway(Self.config(openai: openai.baseURL, gemini: "http://127.0.0.1:9")) { gateway, url in
                let plain = try await Client.post(url + "/v1/responses", #"{"model":"gpt","input":"hi","store":false}"#)
                #expect(plain.status == 200)
                #expect(plain.body == Self.responsesBody)
                let sent = try #require(openai.requests.last)
                #expect(sent.uri == "/v1/responses")
                #expect(try JSONCoding.decode(JSONValue.self, from: sent.body) == JSONValue.object(["model": "gpt-up", "input": "hi", "store": false]))

                let streamed = try await Client.post(url + "/v1/responses", #"{"model":"gpt","input":"hi","stream":true}"#)
                #expect(streamed.status == 200)
                let expected = Self.responsesEvents.map { "event: \($0.0)\ndata: \($0.1)\n\n" }.joined()
                #expect(streamed.body == expected)

                let viaAzure = try await Client.post(url + "/v1/responses", #"{"model":"azure-gpt","input":"hi"}"#)
                #expect(viaAzure.status == 200)
                #expect(openai.requests.last?.uri == "/openai/v1/responses")
                #expect(openai.requests.last?.header("api-key") == "azure-upstream-key")

                let chat = try await Client.post(url + "/v1/chat/completions", #"{"model":"azure-gpt","messages":[{"role":"user","content":"hi"}]}"#)
                #expect(chat.status == 200)
                #expect(openai.requests.last?.uri == "/openai/deployments/deploy-1/chat/completions?api-version=2024-10-21")
                #expect(openai.requests.last?.header("authorization") == nil)

                let anthropicOnly = try await Client.post(url + "/v1/responses", #"{"model":"sonnet","input":"hi"}"#)
                #expect(anthropicOnly.status == 400)
                #expect(anthropicOnly.json?["error"]?["code"] == .string("unsupported_operation"))
                let noModel = try await Client.post(url + "/v1/responses", #"{"input":"hi"}"#)
                #expect(noModel.status == 400)
                #expect(noModel.json?["error"]?["param"] == .string("model"))

                try await waitForLogRows(gateway, 6)
                var query = RequestLogQuery()
                query.model = "gpt"
                let rows = try await gateway.store.logs(query)
                #expect(rows.contains { $0.stream && $0.promptTokens == 6 && $0.completionTokens == 1 && !$0.tokensEstimated })
                #expect(rows.contains { !$0.stream && $0.promptTokens == 6 && $0.cachedTokens == 2 })
            }
        }
    }
}

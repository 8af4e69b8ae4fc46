import Foundation
import NIOCore
import NIOHTTP1
import OrchestratorCore
import OrchestratorTesting
import Persistence
import Testing

@testable import orchestratord

/// `/v1/messages` and Anthropic upstreams through the real server, against real mock
/// upstream servers speaking OpenAI and Anthropic.
@Suite(.serialized)
struct AnthropicIntegrationTests {
    static let message = #"{"id":"msg_01","type":"message","role":"assistant","model":"claude-up","content":[{"type":"text","text":"Bonjour!"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":4,"cache_read_input_tokens":3,"cache_creation_input_tokens":0}}"#

    static let events: [(String, String)] = [
        ("message_start", #"{"type":"message_start","message":{"id":"msg_02","type":"message","role":"assistant","content":[],"model":"claude-up","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1,"cache_read_input_tokens":3}}}"#),
        ("content_block_start", #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
        ("ping", #"{"type": "ping"}"#),
        ("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Bon"}}"#),
        ("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"jour!"}}"#),
        ("content_block_stop", #"{"type":"content_block_stop","index":0}"#),
        ("message_delta", #"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":4}}"#),
        ("message_stop", #"{"type":"message_stop"}"#),
    ]

    static func anthropicStream(_ events: [(String, String)] = events) -> MockUpstream.Response {
        MockUpstream.Response(
            status: 200, headers: [("Content-Type", "text/event-stream")],
            pieces: events.map { .bytes(ByteBuffer(string: "event: \($0.0)\ndata: \($0.1)\n\n")) })
    }

    /// Answers Anthropic-style: a message, or a stream when the body asks for one.
    static func anthropicResponder(_ request: MockUpstream.Request) -> MockUpstream.Response {
        if request.uri.hasSuffix("/count_tokens") {
            if request.bodyString.contains("bad-field") {
                return .json(400, #"{"type":"error","error":{"type":"invalid_request_error","message":"bad-field: Extra inputs are not permitted"}}"#)
            }
            return .json(200, #"{"input_tokens":42}"#)
        }
        return request.bodyString.contains(#""stream":true"#) ? anthropicStream() : .json(200, message)
    }

    static func config(openai: String, anthropic: String, extraModels: String = "") -> String {
        """
        keys:
          - { name: tester, key: "sk-test-client-000111" }
        providers:
          - { name: oai, type: openai, base_url: "\(openai)/v1", api_keys: ["sk-upstream-openai-aaaa"] }
          - { name: claude, type: anthropic, base_url: "\(anthropic)", api_keys: ["sk-ant-upstream-bbbb"] }
        models:
          - name: gpt
            targets: [{ provider: oai, model: gpt-up }]
          - name: sonnet
            targets: [{ provider: claude, model: claude-up }]
        \(extraModels)
        routing: { max_attempts: 3, backoff_initial_ms: 1, backoff_max_ms: 5, timeout_s: 20 }
        """
    }

    static let apiKey = [("x-api-key", "sk-test-client-000111"), ("anthropic-version", "2023-06-01")]

    /// The events of an SSE body as (name, JSON data).
    static func parse(_ body: String) throws -> [(String, JSONValue)] {
        var parser = SSEParser()
        return try parser.feed(ByteBuffer(string: body)).map { event in
            (event.event ?? "", try JSONCoding.decode(JSONValue.self, from: event.data))
        }
    }

    @Test func messagesRoutedToAnOpenAIUpstream() async throws {
        try await MockUpstream.withServer({ request in
            request.bodyString.contains(#""stream":true"#)
                ? .sse(OpenAIFixtures.chunks(["Hel", "lo"])) : .json(200, OpenAIFixtures.completion(content: "Hi there"))
        }) { openai in
            try await withGateway(Self.config(openai: openai.baseURL, anthropic: "http://127.0.0.1:9")) { gateway, url in
                let request = #"{"model":"gpt","max_tokens":50,"system":"Be kind.","messages":[{"role":"user","content":"hello"}]}"#
                let reply = try await Client.post(url + "/v1/messages", request, headers: Self.apiKey)
                #expect(reply.status == 200)
                let message = try #require(reply.json)
                #expect(message["type"] == "message")
                #expect(message["content"] == [["type": "text", "text": "Hi there"]])
                #expect(message["stop_reason"] == "end_turn")
                #expect(message["usage"]?["input_tokens"] == 9)
                #expect(message["usage"]?["output_tokens"] == 12)
                #expect(reply.headers.first(name: "x-orchestrator-provider") == "oai")
                let sent = try JSONCoding.decode(JSONValue.self, from: try #require(openai.requests.first).bodyString)
                #expect(sent["model"] == "gpt-up")
                #expect(sent["max_tokens"] == 50)
                #expect(sent["messages"] == [["role": "system", "content": "Be kind."], ["role": "user", "content": "hello"]])

                let stream = try await Client.post(
                    url + "/v1/messages", request.replacingOccurrences(of: "{\"model", with: "{\"stream\":true,\"model"),
                    headers: Self.apiKey)
                #expect(stream.status == 200)
                #expect(stream.headers.first(name: "content-type") == "text/event-stream")
                let events = try Self.parse(stream.body)
                #expect(
                    events.map(\.0) == [
                        "message_start", "content_block_start", "content_block_delta", "content_block_delta",
                        "content_block_stop", "message_delta", "message_stop",
                    ])
                #expect(events.compactMap { $0.1["delta"]?["text"]?.stringValue }.joined() == "Hello")
                #expect(events[5].1["usage"]?["output_tokens"] == 12)
                #expect(events[5].1["delta"]?["stop_reason"] == "end_turn")
                let streamSent = try JSONCoding.decode(JSONValue.self, from: try #require(openai.requests.last).bodyString)
                #expect(streamSent["stream_options"] == ["include_usage": true])

                try await waitForLogRows(gateway, 2)
                let rows = try await gateway.store.logs(RequestLogQuery())
                #expect(rows.allSatisfy { $0.status == 200 && $0.provider == "oai" && $0.promptTokens == 9 && $0.completionTokens == 12 })
                #expect(Set(rows.map(\.stream)) == [true, false])
            }
        }
    }

    @Test func messagesPassThroughToAnAnthropicUpstream() async throws {
        try await MockUpstream.withServer({ Self.anthropicResponder($0) }) { claude in
            try await withGateway(Self.config(openai: "http://127.0.0.1:9", anthropic: claude.baseURL)) { gateway, url in
                let request = #"{"model":"sonnet","max_tokens":50,"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}],"top_k":4}"#
                let reply = try await Client.post(
                    url + "/v1/messages", request,
                    headers: [("Authorization", "Bearer sk-test-client-000111"), ("anthropic-beta", "tools-2024-04-04")])
                #expect(reply.status == 200)
                #expect(reply.body == Self.message, "same-style bytes come back unchanged")
                let sent = try #require(claude.requests.first)
                #expect(sent.uri == "/v1/messages")
                #expect(sent.header("x-api-key") == "sk-ant-upstream-bbbb")
                #expect(sent.header("authorization") == nil)
                #expect(sent.header("anthropic-version") == "2023-06-01")
                #expect(sent.header("anthropic-beta") == "tools-2024-04-04")
                #expect(sent.bodyString == request.replacingOccurrences(of: #""model":"sonnet""#, with: #""model":"claude-up""#))

                let stream = try await Client.post(
                    url + "/v1/messages", request.replacingOccurrences(of: "{\"model", with: "{\"stream\":true,\"model"),
                    headers: Self.apiKey)
                let events = try Self.parse(stream.body)
                #expect(events.map(\.0) == Self.events.map(\.0), "every upstream event is forwarded, ping included")
                let original = try Self.events.map { try JSONCoding.decode(JSONValue.self, from: $0.1) }
                #expect(events.map(\.1) == original)

                try await waitForLogRows(gateway, 2)
                let rows = try await gateway.store.logs(RequestLogQuery())
                #expect(rows.allSatisfy { $0.provider == "claude" && $0.promptTokens == 12 && $0.completionTokens == 4 })
                #expect(rows.allSatisfy { !$0.tokensEstimated })
            }
        }
    }

    @Test func chatCompletionsRoutedToAnAnthropicUpstream() async throws {
        try await MockUpstream.withServer({ Self.anthropicResponder($0) }) { claude in
            try await withGateway(Self.config(openai: "http://127.0.0.1:9", anthropic: claude.baseURL)) { gateway, url in
                let reply = try await Client.post(
                    url + "/v1/chat/completions",
                    #"{"model":"sonnet","messages":[{"role":"system","content":"Be kind."},{"role":"user","content":"hi"}]}"#)
                #expect(reply.status == 200)
                let completion = try #require(reply.json)
                #expect(completion["object"] == "chat.completion")
                #expect(completion["choices"]?.arrayValue?.first?["message"] == ["role": "assistant", "content": "Bonjour!"])
                #expect(completion["choices"]?.arrayValue?.first?["finish_reason"] == "stop")
                #expect(completion["usage"]?["prompt_tokens"] == 12)
                #expect(completion["usage"]?["prompt_tokens_details"] == ["cached_tokens": 3])
                let sent = try JSONCoding.decode(JSONValue.self, from: try #require(claude.requests.first).bodyString)
                #expect(sent["system"] == "Be kind.")
                #expect(sent["max_tokens"] == 4096)
                #expect(sent["messages"] == [["role": "user", "content": "hi"]])

                let stream = try await Client.post(
                    url + "/v1/chat/completions",
                    #"{"model":"sonnet","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#)
                let chunks = stream.body.components(separatedBy: "\n\n").filter { !$0.isEmpty }
                #expect(chunks.last == "data: [DONE]")
                let decoded = try chunks.dropLast().map { try JSONCoding.decode(JSONValue.self, from: String($0.dropFirst(6))) }
                #expect(decoded.compactMap { $0["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue }.joined() == "Bonjour!")
                #expect(decoded.compactMap { $0["choices"]?.arrayValue?.first?["finish_reason"]?.stringValue } == ["stop"])
                #expect(decoded.last?["usage"]?["completion_tokens"] == 4)
                #expect(decoded.allSatisfy { $0["object"] == "chat.completion.chunk" })
                try await waitForLogRows(gateway, 2)
            }
        }
    }

    @Test func errorsOnTheMessagesRouteHaveAnthropicsShape() async throws {
        try await MockUpstream.withServer({ Self.anthropicResponder($0) }) { claude in
            try await withGateway(Self.config(openai: "http://127.0.0.1:9", anthropic: claude.baseURL)) { _, url in
                func expectError(_ reply: Client.Reply, _ status: Int, _ type: String) {
                    #expect(reply.status == status)
                    #expect(reply.json?["type"] == "error", "\(reply.body)")
                    #expect(reply.json?["error"]?["type"] == .string(type), "\(reply.body)")
                    #expect(reply.json?["error"]?["message"]?.stringValue?.isEmpty == false)
                    #expect(reply.headers.first(name: "x-request-id") != nil)
                }
                let body = #"{"model":"nope","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#
                expectError(try await Client.post(url + "/v1/messages", body, headers: Self.apiKey), 404, "not_found_error")
                expectError(try await Client.post(url + "/v1/messages", body, headers: [("x-api-key", "wrong")]), 401, "authentication_error")
                expectError(
                    try await Client.post(url + "/v1/messages", #"{"model":"sonnet","messages":[{"role":"user","content":"hi"}]}"#, headers: Self.apiKey),
                    400, "invalid_request_error")
                expectError(try await Client.post(url + "/v1/messages", "{nope", headers: Self.apiKey), 400, "invalid_request_error")
                expectError(
                    try await Client.post(url + "/v1/messages/count_tokens", "{nope", headers: Self.apiKey), 400, "invalid_request_error")
                expectError(try await Client.get(url + "/v1/messages", headers: Self.apiKey), 404, "not_found_error")

                // An OpenAI-routed model has no counter upstream: estimated, no upstream call.
                let countRequest = #"{"model":"gpt","system":"You are a helpful assistant.","messages":[{"role":"user","content":"How many tokens is this?"}]}"#
                let estimated = try await Client.post(url + "/v1/messages/count_tokens", countRequest, headers: Self.apiKey)
                #expect(estimated.status == 200)
                #expect((estimated.json?["input_tokens"]?.intValue ?? 0) > 5)
                #expect(claude.requests.isEmpty)
                // An Anthropic-routed one is counted by Anthropic, the body passed through.
                let counted = try await Client.post(
                    url + "/v1/messages/count_tokens", countRequest.replacingOccurrences(of: #""gpt""#, with: #""sonnet""#),
                    headers: Self.apiKey)
                #expect(counted.json == ["input_tokens": 42])
                let sent = try #require(claude.requests.first)
                #expect(sent.uri == "/v1/messages/count_tokens")
                #expect(sent.bodyString == countRequest.replacingOccurrences(of: #""gpt""#, with: #""claude-up""#))
                expectError(
                    try await Client.post(
                        url + "/v1/messages/count_tokens", countRequest.replacingOccurrences(of: #""gpt""#, with: #""nope""#),
                        headers: Self.apiKey), 404, "not_found_error")
                // The counter's verdict on the client's request is passed on, not estimated away.
                let bad = #"{"model":"sonnet","bad-field":1,"messages":[{"role":"user","content":"hi"}]}"#
                expectError(try await Client.post(url + "/v1/messages/count_tokens", bad, headers: Self.apiKey), 400, "invalid_request_error")
                // Data-plane routing keeps the query (Claude Code adds ?beta=true); near misses are unknown routes.
                let beta = try await Client.post(
                    url + "/v1/messages?beta=true", #"{"model":"sonnet","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
                    headers: Self.apiKey)
                #expect(beta.status == 200 && beta.json?["type"] == "message")
                let countBeta = try await Client.post(url + "/v1/messages/count_tokens?beta=true", countRequest, headers: Self.apiKey)
                #expect(countBeta.status == 200)
                let nearMiss = try await Client.post(url + "/v1/messagesX", countRequest, headers: Self.apiKey)
                #expect(nearMiss.status == 404 && nearMiss.json?["error"]?["code"] == "unknown_route", "OpenAI's shape off the messages routes")
            }
        }
    }

    @Test func anOverloadedAnthropicUpstreamFailsOverToOpenAI() async throws {
        let overloaded = #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
        let earlyError = [Self.events[0], Self.events[2], ("error", overloaded)]
        try await MockUpstream.withServer({ request in
            request.bodyString.contains(#""stream":true"#) ? Self.anthropicStream(earlyError) : .json(529, overloaded)
        }) { claude in
            try await MockUpstream.withServer({ request in
                request.bodyString.contains(#""stream":true"#)
                    ? .sse(OpenAIFixtures.chunks(["Hel", "lo"])) : .json(200, OpenAIFixtures.completion(content: "from openai"))
            }) { openai in
                let models = """
                      - name: resilient
                        targets:
                          - { provider: claude, model: claude-up, priority: 0 }
                          - { provider: oai, model: gpt-up, priority: 1 }
                    """
                try await withGateway(Self.config(openai: openai.baseURL, anthropic: claude.baseURL, extraModels: models)) { _, url in
                    let reply = try await Client.post(
                        url + "/v1/messages", #"{"model":"resilient","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}"#,
                        headers: Self.apiKey)
                    #expect(reply.status == 200)
                    #expect(reply.json?["content"]?.arrayValue?.first?["text"] == "from openai")
                    #expect(reply.headers.first(name: "x-orchestrator-attempts") == "2")
                    #expect(claude.requests.count == 1)
                    // A stream whose upstream fails right after message_start fails over too.
                    let stream = try await Client.post(
                        url + "/v1/messages",
                        #"{"model":"resilient","stream":true,"max_tokens":20,"messages":[{"role":"user","content":"hi"}]}"#,
                        headers: Self.apiKey)
                    #expect(stream.status == 200)
                    #expect(stream.headers.first(name: "x-orchestrator-attempts") == "2")
                    #expect(stream.body.contains("\"Hel\"") && stream.body.hasSuffix("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
                }
            }
        }
    }

    @Test func anUpstreamFailureMidStreamEndsWithAnErrorEvent() async throws {
        let broken = Array(Self.events.prefix(4)) + [("error", #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)]
        try await MockUpstream.withServer({ _ in Self.anthropicStream(broken) }) { claude in
            try await withGateway(Self.config(openai: "http://127.0.0.1:9", anthropic: claude.baseURL)) { gateway, url in
                let stream = try await Client.post(
                    url + "/v1/messages", #"{"model":"sonnet","stream":true,"max_tokens":20,"messages":[{"role":"user","content":"hi"}]}"#,
                    headers: Self.apiKey)
                #expect(stream.status == 200)
                let events = try Self.parse(stream.body)
                #expect(events.map(\.0) == ["message_start", "content_block_start", "ping", "content_block_delta", "error"])
                #expect(events.last?.1["error"]?["type"] == "overloaded_error", "the upstream's error type is kept")
                try await waitForLogRows(gateway, 1)
                let row = try #require(try await gateway.store.logs(RequestLogQuery()).first)
                #expect(row.status == 502 && row.tokensEstimated)
            }
        }
    }
}

import Foundation
import HTTPTypes
import Logging
import NIOCore
import OrchestratorCore
import Synchronization
import Testing

@testable import Providers

// Fixtures follow the examples of Anthropic's Messages API reference
// (https://docs.anthropic.com/en/api/messages, …/messages-streaming, …/errors).

let anthropicProvider = ProviderConfig(name: "claude", type: .anthropic, baseURL: "https://api.anthropic.test")

func anthropicCall(
    _ json: String, style: APIStyle = .openai, target: TargetConfig = TargetConfig(provider: "claude", model: "claude-x"),
    headers: HTTPFields = [:]
) throws -> ProviderCall {
    let body = ByteBuffer(string: json)
    let chat =
        style == .anthropic
        ? try AnthropicInboundCodec().decodeTokenCountRequest(body) : try JSONCoding.decodeRequest(ChatRequest.self, from: body)
    return ProviderCall(
        request: InboundRequest(
            style: style, body: body, chat: chat, requestID: "req-1", receivedAtMillis: 1_700_000_000_000,
            forwardedHeaders: headers),
        provider: anthropicProvider, target: target, apiKey: "sk-ant-upstream", deadline: .now + .seconds(30),
        logger: Logger(label: "test"))
}

func json(_ buffer: ByteBuffer?) throws -> JSONValue {
    try JSONCoding.decode(JSONValue.self, from: buffer ?? ByteBuffer())
}

func json(_ text: String) throws -> JSONValue {
    try JSONCoding.decode(JSONValue.self, from: text)
}

/// A JSON literal of a test's own (so it always parses).
func j(_ text: String) -> JSONValue {
    do {
        return try JSONCoding.decode(JSONValue.self, from: text)
    } catch {
        Issue.record("bad JSON literal in a test: \(text)")
        return .null
    }
}

enum AnthropicFixtures {
    static let textMessage = """
        {"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
         "content":[{"type":"text","text":"Hi! My name is Claude."}],"stop_reason":"end_turn","stop_sequence":null,
         "usage":{"input_tokens":2095,"output_tokens":503,"cache_creation_input_tokens":2051,"cache_read_input_tokens":2051}}
        """

    static let toolUseMessage = """
        {"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"claude-opus-4-1-20250805",
         "content":[{"type":"text","text":"I'll check the current weather in San Francisco for you."},
          {"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"location":"San Francisco, CA","unit":"celsius"}},
          {"type":"tool_use","id":"toolu_02","name":"get_time","input":{"tz":"America/Los_Angeles"}}],
         "stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":30}}
        """

    static let thinkingMessage = """
        {"id":"msg_think","type":"message","role":"assistant","model":"claude-sonnet-4-5",
         "content":[{"type":"thinking","thinking":"Let me analyze this step by step...","signature":"WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/UvLEczmEsUjavL...."},
          {"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB9URj2pLmN3kF8/dW5hR7xJ0aP1oLs9yTcMnKVf2wRpEGjH9XZaBt4UvDcPrQ..."},
          {"type":"text","text":"Based on my analysis..."}],
         "stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":50,"output_tokens":100}}
        """

    /// The basic streaming example of the reference.
    static let textStream = """
        event: message_start
        data: {"type": "message_start", "message": {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant", "content": [], "model": "claude-opus-4-1-20250805", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 5}}}

        event: content_block_start
        data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

        event: ping
        data: {"type": "ping"}

        event: content_block_delta
        data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}

        event: content_block_delta
        data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}

        event: content_block_stop
        data: {"type": "content_block_stop", "index": 0}

        event: message_delta
        data: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence":null}, "usage": {"output_tokens": 15}}

        event: message_stop
        data: {"type": "message_stop"}


        """

    /// Text, then two tool calls whose input arrives in fragments; thinking first.
    static let toolStream = """
        event: message_start
        data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-opus-4-1-20250805","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}}

        event: content_block_start
        data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"I need the weather."}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":0}

        event: content_block_start
        data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Okay, let's check"}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":1}

        event: content_block_start
        data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\\"location\\":"}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":" \\"San Francisco, CA\\"}"}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":2}

        event: content_block_start
        data: {"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_02","name":"get_time","input":{}}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{\\"tz\\": \\"PST\\"}"}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":3}

        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

        event: message_stop
        data: {"type":"message_stop"}


        """
}

struct AnthropicRequestTranslationTests {
    @Test func systemMessagesToolsAndTurns() async throws {
        let transport = ScriptedTransport { _ in .json(200, AnthropicFixtures.textMessage) }
        let adapter = AnthropicAdapter(transport: transport)
        let request = #"""
            {"model":"alias","messages":[
              {"role":"system","content":"You are terse."},
              {"role":"developer","content":"Use metric units."},
              {"role":"user","content":"Weather?"},
              {"role":"user","content":[{"type":"text","text":"In Paris"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0K"}},{"type":"image_url","image_url":{"url":"https://example.com/a.jpg"}}]},
              {"role":"assistant","content":"Checking.","tool_calls":[
                {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
                {"id":"call_2","type":"function","function":{"name":"get_time","arguments":""}}]},
              {"role":"tool","tool_call_id":"call_1","content":"18C"},
              {"role":"tool","tool_call_id":"call_2","content":"noon"},
              {"role":"user","content":"Thanks"}],
             "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather now","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
                      {"type":"function","function":{"name":"get_time"}}],
             "tool_choice":"required","parallel_tool_calls":false,
             "stop":["END"],"temperature":1.5,"top_p":0.9,"user":"u-42","max_tokens":300}
            """#
        _ = try await adapter.complete(try anthropicCall(request))
        let sent = transport.requests.withLock { $0[0] }
        #expect(sent.url == "https://api.anthropic.test/v1/messages")
        #expect(sent.headers[.anthropicAPIKey] == "sk-ant-upstream")
        #expect(sent.headers[.anthropicVersion] == "2023-06-01")
        #expect(sent.headers[.authorization] == nil)
        let expected = try json(
            #"""
            {"model":"claude-x","max_tokens":300,
             "system":[{"type":"text","text":"You are terse."},{"type":"text","text":"Use metric units."}],
             "messages":[
              {"role":"user","content":[{"type":"text","text":"Weather?"},{"type":"text","text":"In Paris"},
                {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0K"}},
                {"type":"image","source":{"type":"url","url":"https://example.com/a.jpg"}}]},
              {"role":"assistant","content":[{"type":"text","text":"Checking."},
                {"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}},
                {"type":"tool_use","id":"call_2","name":"get_time","input":{}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"18C"},
                {"type":"tool_result","tool_use_id":"call_2","content":"noon"},{"type":"text","text":"Thanks"}]}],
             "tools":[{"name":"get_weather","description":"Weather now","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},
                      {"name":"get_time","input_schema":{"type":"object","properties":{}}}],
             "tool_choice":{"type":"any","disable_parallel_tool_use":true},
             "stop_sequences":["END"],"temperature":1,"top_p":0.9,"metadata":{"user_id":"u-42"}}
            """#)
        #expect(try json(sent.body) == expected)
    }

    @Test func maxTokensDefaultsAndToolChoices() throws {
        func body(_ request: String, target: TargetConfig = TargetConfig(provider: "claude", model: "m")) throws -> JSONValue {
            try json(AnthropicAdapter.upstreamBody(for: anthropicCall(request, target: target), stream: false).0)
        }
        let plain = #"{"model":"a","messages":[{"role":"user","content":"hi"}]}"#
        #expect(try body(plain)["max_tokens"] == 4096)
        var target = TargetConfig(provider: "claude", model: "m")
        target.maxTokensDefault = 1000
        #expect(try body(plain, target: target)["max_tokens"] == 1000)
        #expect(try body(#"{"model":"a","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":77}"#)["max_tokens"] == 77)
        #expect(try body(plain)["messages"] == [["role": "user", "content": "hi"]])
        let tool = #""tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]"#
        for (choice, expected) in [
            (#""auto""#, #"{"type":"auto"}"#), (#""none""#, #"{"type":"none"}"#), (#""required""#, #"{"type":"any"}"#),
            (#"{"type":"function","function":{"name":"f"}}"#, #"{"type":"tool","name":"f"}"#),
        ] {
            let request = #"{"model":"a","messages":[{"role":"user","content":"hi"}],\#(tool),"tool_choice":\#(choice)}"#
            #expect(try body(request)["tool_choice"] == j(expected))
        }
    }

    @Test func reasoningEffortBecomesAThinkingBudget() throws {
        let request = #"{"model":"a","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"high","max_tokens":1000,"temperature":0.2}"#
        let body = try json(AnthropicAdapter.upstreamBody(for: anthropicCall(request), stream: true).0)
        #expect(body["thinking"] == ["type": "enabled", "budget_tokens": 4096])
        #expect(body["max_tokens"] == 5096)
        #expect(body["temperature"] == nil)
        #expect(body["stream"] == true)
        let explicit = #"{"model":"a","messages":[{"role":"user","content":"hi"}],"thinking":{"type":"enabled","budget_tokens":2000},"max_tokens":8000}"#
        let explicitBody = try json(AnthropicAdapter.upstreamBody(for: anthropicCall(explicit), stream: false).0)
        #expect(explicitBody["thinking"] == ["type": "enabled", "budget_tokens": 2000])
        #expect(explicitBody["max_tokens"] == 8000)
    }

    @Test func thinkingBlocksGoBackWithTheirSignatures() throws {
        let request = #"""
            {"model":"a","messages":[{"role":"user","content":"hi"},
             {"role":"assistant","content":"Sure.","reasoning_content":"hmm","thinking_blocks":[{"type":"thinking","thinking":"hmm","signature":"sig=="}],
              "tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{}"}}]},
             {"role":"tool","tool_call_id":"t1","content":"ok"}]}
            """#
        let body = try json(AnthropicAdapter.upstreamBody(for: anthropicCall(request), stream: false).0)
        #expect(
            body["messages"]?.arrayValue?[1]
                == j(
                    #"{"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"sig=="},{"type":"text","text":"Sure."},{"type":"tool_use","id":"t1","name":"f","input":{}}]}"#
                ))
    }

    @Test func jsonSchemaBecomesAForcedToolAndComesBackAsText() async throws {
        let reply = #"""
            {"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"tool_use","id":"toolu_1","name":"weather_report","input":{"temp":18,"city":"Paris"}}],
             "stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":7}}
            """#
        let transport = ScriptedTransport { _ in .json(200, reply) }
        let request = #"""
            {"model":"a","messages":[{"role":"user","content":"Weather in Paris as JSON"}],
             "response_format":{"type":"json_schema","json_schema":{"name":"weather report","schema":{"type":"object","properties":{"temp":{"type":"number"}}}}}}
            """#
        let result = try await AnthropicAdapter(transport: transport).complete(try anthropicCall(request))
        let sent = try json(transport.requests.withLock { $0[0].body })
        #expect(sent["tool_choice"] == ["type": "tool", "name": "weather_report"])
        #expect(sent["tools"]?.arrayValue?.first?["input_schema"] == j(#"{"type":"object","properties":{"temp":{"type":"number"}}}"#))
        guard case .canonical(let completion) = result.body else {
            Issue.record("expected a translated completion")
            return
        }
        #expect(completion.choices[0].message.content == .text(#"{"city":"Paris","temp":18}"#))
        #expect(completion.choices[0].message.toolCalls == nil)
        #expect(completion.choices[0].finishReason == "stop")

        let jsonObject = #"{"model":"a","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}"#
        let body = try json(AnthropicAdapter.upstreamBody(for: anthropicCall(jsonObject), stream: false).0)
        #expect(body["system"]?.stringValue?.contains("JSON object") == true)
        #expect(body["tools"] == nil)
    }

    @Test func whatAnthropicWouldRejectIsLeftOut() throws {
        func body(_ request: String) throws -> JSONValue {
            try json(AnthropicAdapter.upstreamBody(for: anthropicCall(request), stream: false).0)
        }
        // Whitespace-only stop sequences are refused by Anthropic.
        #expect(try body(#"{"model":"a","messages":[{"role":"user","content":"hi"}],"stop":["\n"," "]}"#)["stop_sequences"] == nil)
        #expect(try body(#"{"model":"a","messages":[{"role":"user","content":"hi"}],"stop":["\n","END"]}"#)["stop_sequences"] == ["END"])
        // A tool choice without tools.
        #expect(try body(#"{"model":"a","messages":[{"role":"user","content":"hi"}],"tool_choice":"auto"}"#)["tool_choice"] == nil)
        // Thinking with a forced tool choice, or after a tool turn that lost its thinking block.
        let tools = #""tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]"#
        let forced = try body(#"{"model":"a","messages":[{"role":"user","content":"hi"}],\#(tools),"tool_choice":"required","reasoning_effort":"low"}"#)
        #expect(forced["thinking"] == nil)
        let toolTurn = #"""
            {"model":"a","reasoning_effort":"low",\#(tools),"messages":[{"role":"user","content":"hi"},
             {"role":"assistant","content":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},
             {"role":"tool","tool_call_id":"t","content":"ok"}]}
            """#
        #expect(try body(toolTurn)["thinking"] == nil)
        let plain = try body(#"{"model":"a","messages":[{"role":"user","content":"hi"}],\#(tools),"reasoning_effort":"low"}"#)
        #expect(plain["thinking"] == ["type": "enabled", "budget_tokens": 1024])
    }

    @Test func untranslatableInputIsAPreciseBadRequest() throws {
        let cases: [(String, String)] = [
            (#"{"model":"a","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}"#,
             "messages[0].content[0].image_url.url"),
            (#"{"model":"a","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}"#,
             "messages[0].content[0].type"),
            (#"{"model":"a","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"not json"}}]}]}"#,
             "messages[0].tool_calls[0].function.arguments"),
        ]
        for (request, param) in cases {
            do {
                _ = try AnthropicAdapter.upstreamBody(for: anthropicCall(request), stream: false)
                Issue.record("expected a 400 for \(param)")
            } catch let error as GatewayError {
                #expect(error.status == 400)
                #expect(error.param == param)
            }
        }
    }
}

struct AnthropicResponseTranslationTests {
    func complete(_ reply: String) async throws -> (ChatCompletion, ProviderCompletion) {
        let transport = ScriptedTransport { _ in .json(200, reply, headers: [.anthropicRequestID: "req_018EeWyXxfu5pfWkrYcMdjWG"]) }
        let result = try await AnthropicAdapter(transport: transport).complete(
            try anthropicCall(#"{"model":"a","messages":[{"role":"user","content":"hi"}]}"#))
        guard case .canonical(let completion) = result.body else { throw GatewayError.internalError("not canonical") }
        return (completion, result)
    }

    @Test func textAndCachedUsage() async throws {
        let (completion, result) = try await complete(AnthropicFixtures.textMessage)
        #expect(completion.id == "msg_013Zva2CMHLNnXjNJJKqJ2EF")
        #expect(completion.model == "claude-sonnet-4-5-20250929")
        #expect(completion.created == 1_700_000_000)
        #expect(completion.choices[0].message == ChatMessage(role: .assistant, content: .text("Hi! My name is Claude.")))
        #expect(completion.choices[0].finishReason == "stop")
        // prompt = input + cache reads + cache writes; cached = cache reads.
        let usage = Usage(promptTokens: 2095 + 2051 + 2051, completionTokens: 503, cachedTokens: 2051)
        #expect(completion.usage == usage)
        #expect(result.usage == usage)
        #expect(result.upstreamRequestID == "req_018EeWyXxfu5pfWkrYcMdjWG")
    }

    @Test func parallelToolUse() async throws {
        let (completion, _) = try await complete(AnthropicFixtures.toolUseMessage)
        let message = completion.choices[0].message
        #expect(message.content == .text("I'll check the current weather in San Francisco for you."))
        #expect(
            message.toolCalls == [
                ToolCall(
                    id: "toolu_01A09q90qw90lq917835lq9",
                    function: FunctionCall(name: "get_weather", arguments: #"{"location":"San Francisco, CA","unit":"celsius"}"#)),
                ToolCall(id: "toolu_02", function: FunctionCall(name: "get_time", arguments: #"{"tz":"America/Los_Angeles"}"#)),
            ])
        #expect(completion.choices[0].finishReason == "tool_calls")
    }

    @Test func thinkingIsReasoningContentAndKeepsItsBlocks() async throws {
        let (completion, _) = try await complete(AnthropicFixtures.thinkingMessage)
        let message = completion.choices[0].message
        #expect(message.reasoningContent == "Let me analyze this step by step...")
        #expect(message.content == .text("Based on my analysis..."))
        let blocks = message.extra["thinking_blocks"]?.arrayValue ?? []
        #expect(blocks.count == 2)
        #expect(blocks.first?["signature"]?.stringValue?.hasPrefix("WaUjzkyp") == true)
        #expect(blocks.last?["type"] == "redacted_thinking")
    }

    @Test func everyStopReason() {
        let cases: [(String, String)] = [
            ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
            ("refusal", "content_filter"), ("pause_turn", "stop"), ("model_context_window_exceeded", "length"),
        ]
        for (stop, finish) in cases { #expect(AnthropicTranslation.finishReason(stop) == finish) }
        #expect(AnthropicTranslation.stopReason("stop", hasToolCalls: false) == "end_turn")
        #expect(AnthropicTranslation.stopReason("length", hasToolCalls: false) == "max_tokens")
        #expect(AnthropicTranslation.stopReason("tool_calls", hasToolCalls: true) == "tool_use")
        #expect(AnthropicTranslation.stopReason("content_filter", hasToolCalls: false) == "refusal")
        #expect(AnthropicTranslation.stopReason(nil, hasToolCalls: false) == "end_turn")
        // Servers that answer tool calls with `stop` (Gemini's and Ollama's OpenAI endpoints):
        // Anthropic clients only run tools on `tool_use`.
        #expect(AnthropicTranslation.stopReason("stop", hasToolCalls: true) == "tool_use")
        #expect(AnthropicTranslation.stopReason("length", hasToolCalls: true) == "max_tokens")
    }

    @Test func upstreamErrorsAreClassified() async throws {
        let cases: [(Int, String, Bool)] = [
            (529, #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#, true),
            (429, #"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#, true),
            (400, #"{"type":"error","error":{"type":"invalid_request_error","message":"messages: roles must alternate"}}"#, false),
            (401, #"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#, true),
            (500, #"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#, true),
        ]
        for (status, body, retryable) in cases {
            let transport = ScriptedTransport { _ in .json(status, body, headers: [HTTPField.Name("Retry-After")!: "7"]) }
            do {
                _ = try await AnthropicAdapter(transport: transport).complete(
                    try anthropicCall(#"{"model":"a","messages":[{"role":"user","content":"hi"}]}"#))
                Issue.record("expected a failure for \(status)")
            } catch let error as GatewayError {
                #expect(error.upstreamStatus == status)
                #expect(error.isRetryable == retryable)
                let message = try json(body)["error"]?["message"]?.stringValue ?? ""
                #expect(error.message.contains(message))
                if status == 429 { #expect(error.retryAfterSeconds == 7) }
            }
        }
        let notAMessage = ScriptedTransport { _ in .json(200, #"{"type":"completion"}"#) }
        await #expect(throws: GatewayError.self) {
            _ = try await AnthropicAdapter(transport: notAMessage).complete(
                try anthropicCall(#"{"model":"a","messages":[{"role":"user","content":"hi"}]}"#))
        }
    }
}

struct AnthropicStreamTranslationTests {
    static func translate(_ pieces: [String], passThrough: Bool = false) throws(GatewayError) -> [ProviderStreamEvent] {
        var translation = SSETranslation(
            AnthropicStreamTranslator(provider: "claude", passThrough: passThrough, structuredOutputTool: nil, created: 7))
        var out: [ProviderStreamEvent] = []
        for piece in pieces { out += try translation.feed(ByteBuffer(string: piece)) }
        out += try translation.finish()
        if let deferred = translation.takeDeferred() { throw deferred }
        return out
    }

    /// The canonical chunks with their text merged per field, for comparing splits.
    static func chunks(_ events: [ProviderStreamEvent]) -> [ChatCompletionChunk] {
        events.compactMap(\.chunk)
    }

    @Test func textStream() throws {
        let events = try Self.translate([AnthropicFixtures.textStream])
        let chunks = Self.chunks(events)
        #expect(chunks.first?.choices.first?.delta.role == "assistant")
        #expect(chunks.allSatisfy { $0.id == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY" && $0.created == 7 })
        #expect(chunks.compactMap { $0.choices.first?.delta.content }.joined() == "Hello!")
        #expect(chunks.compactMap { $0.choices.first?.finishReason } == ["stop"])
        let usage = Usage(promptTokens: 30, completionTokens: 15, cachedTokens: 5)
        #expect(chunks.last?.isUsageOnly == true)
        #expect(chunks.last?.usage == usage)
        #expect(events.compactMap(\.usage).last == usage)
    }

    /// Seconds of CPU in a debug build: it yields after each cut, so that it never holds
    /// a thread of the (two-thread, on CI) cooperative pool for long. The suites run in
    /// parallel, and the mock upstreams of other tests answer from that pool.
    @Test func chunkBoundariesDoNotMatter() async throws {
        for fixture in [AnthropicFixtures.textStream, AnthropicFixtures.toolStream] {
            let whole = Self.chunks(try Self.translate([fixture]))
            let bytes = Array(fixture.utf8)
            for cut in 1..<bytes.count {
                await Task.yield()
                let pieces = [String(decoding: bytes[..<cut], as: UTF8.self), String(decoding: bytes[cut...], as: UTF8.self)]
                // Cutting inside a multi-byte character would not decode as two strings; the fixtures are ASCII.
                #expect(Self.chunks(try Self.translate(pieces)) == whole, "cut at \(cut)")
            }
            let single = bytes.map { String(decoding: [$0], as: UTF8.self) }
            #expect(Self.chunks(try Self.translate(single)) == whole)
        }
    }

    @Test func thinkingTextAndParallelToolCalls() throws {
        let chunks = Self.chunks(try Self.translate([AnthropicFixtures.toolStream]))
        let deltas = chunks.compactMap { $0.choices.first?.delta }
        #expect(deltas.compactMap(\.reasoningContent).joined() == "I need the weather.")
        #expect(deltas.compactMap(\.content).joined() == "Okay, let's check")
        let signature = deltas.compactMap { $0.extra["thinking_blocks"]?.arrayValue?.first?["signature"]?.stringValue }
        #expect(signature == ["EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"])
        let calls = deltas.flatMap { $0.toolCalls ?? [] }
        // First delta of each call: index, id, type and name; then argument fragments on the same index.
        #expect(calls.first == .init(index: 0, id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", type: "function", function: .init(name: "get_weather", arguments: "")))
        #expect(calls.filter { $0.index == 0 }.compactMap { $0.function?.arguments }.joined() == #"{"location": "San Francisco, CA"}"#)
        #expect(calls.filter { $0.index == 1 }.first?.id == "toolu_02")
        #expect(calls.filter { $0.index == 1 }.first?.function?.name == "get_time")
        #expect(calls.filter { $0.index == 1 }.compactMap { $0.function?.arguments }.joined() == #"{"tz": "PST"}"#)
        #expect(calls.filter { $0.index > 0 && $0.id != nil }.count == 1)
        #expect(chunks.compactMap { $0.choices.first?.finishReason } == ["tool_calls"])
        #expect(chunks.last?.usage == Usage(promptTokens: 472, completionTokens: 89, cachedTokens: nil))
    }

    @Test func errorEventsAndTruncatedStreamsFail() throws {
        let overloaded = """
            event: message_start
            data: {"type":"message_start","message":{"id":"m","model":"x","usage":{"input_tokens":1,"output_tokens":1}}}

            event: error
            data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


            """
        do {
            _ = try Self.translate([overloaded])
            Issue.record("an error event must fail the stream")
        } catch {
            #expect(error.isRetryable)
            #expect(error.message.contains("Overloaded"))
        }
        let truncated = String(AnthropicFixtures.textStream.prefix(while: { $0 != "!" }))
        #expect(throws: GatewayError.self) { _ = try Self.translate([truncated]) }
        #expect(throws: GatewayError.self) { _ = try Self.translate(["event: message_start\ndata: not json\n\n"]) }
    }

    @Test func anErrorRightAfterMessageStartStillFailsOver() throws {
        let early = """
            event: message_start
            data: {"type":"message_start","message":{"id":"m","model":"x","usage":{"input_tokens":1,"output_tokens":1}}}

            event: ping
            data: {"type": "ping"}

            event: error
            data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}


            """
        for passThrough in [false, true] {
            var translation = SSETranslation(
                AnthropicStreamTranslator(provider: "claude", passThrough: passThrough, structuredOutputTool: nil, created: 7))
            // Nothing for the client comes before the failure (only bookkeeping), so the
            // engine, which waits for the first part, sees the error and fails over.
            let events = try translation.feed(ByteBuffer(string: early))
            #expect(events.allSatisfy { if case .part = $0 { return false } else { return true } })
            #expect(translation.takeDeferred() != nil)
        }
        // The held events are released, in order, with the first content event.
        let events = try Self.translate([AnthropicFixtures.textStream], passThrough: true)
        #expect(events.compactMap(\.rawText).first?.hasPrefix("event: message_start\n") == true)
    }

    @Test func aToolWithoutInputGetsEmptyObjectArguments() throws {
        let stream = """
            event: message_start
            data: {"type":"message_start","message":{"id":"m","model":"x","usage":{"input_tokens":3,"output_tokens":1}}}

            event: content_block_start
            data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_n","name":"now","input":{}}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}

            event: content_block_stop
            data: {"type":"content_block_stop","index":0}

            event: message_delta
            data: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":5,"input_tokens":0}}

            event: message_stop
            data: {"type":"message_stop"}


            """
        let events = try Self.translate([stream])
        let calls = Self.chunks(events).flatMap { $0.choices.first?.delta.toolCalls ?? [] }
        #expect(calls.compactMap { $0.function?.arguments }.joined() == "{}")
        // A zero input count at the end does not erase the one message_start reported.
        #expect(events.compactMap(\.usage).last == Usage(promptTokens: 3, completionTokens: 5))
        #expect(events.compactMap(\.usage).first == Usage(promptTokens: 3, completionTokens: 1), "usage is known from message_start on")
    }

    @Test func streamedThinkingCarriesTheWholeBlockWithItsSignature() throws {
        let deltas = Self.chunks(try Self.translate([AnthropicFixtures.toolStream])).compactMap { $0.choices.first?.delta }
        let carried = deltas.compactMap { $0.extra["thinking_blocks"]?.arrayValue?.first }
        #expect(carried == [["type": "thinking", "thinking": "I need the weather.", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"]])
    }

    @Test func aMidStreamErrorKeepsItsAnthropicType() throws {
        let broken = AnthropicFixtures.textStream.replacingOccurrences(
            of: "event: message_delta", with: "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\nevent: message_delta")
        do {
            _ = try Self.translate([broken], passThrough: true)
            Issue.record("expected the stream to fail")
        } catch {
            #expect(error.type == "overloaded_error")
            #expect(AnthropicInboundCodec.errorType(error) == "overloaded_error")
        }
    }

    @Test func passThroughForwardsEveryEventAndReadsUsage() throws {
        let events = try Self.translate([AnthropicFixtures.textStream], passThrough: true)
        let forwarded = events.compactMap(\.rawText).joined()
        var parser = SSEParser()
        let original = try parser.feed(ByteBuffer(string: AnthropicFixtures.textStream))
        var again = SSEParser()
        #expect(try again.feed(ByteBuffer(string: forwarded)) == original)
        #expect(events.compactMap(\.usage).last == Usage(promptTokens: 30, completionTokens: 15, cachedTokens: 5))
        #expect(events.contains { $0.chunk != nil } == false)
    }

    @Test func extraBodyMergesOneLevelDeepOnThePassThrough() throws {
        var target = TargetConfig(provider: "claude", model: "claude-x")
        target.extraBody = ["metadata": ["team": "a"], "top_k": 7]
        let client = #"{"model":"alias","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"u1"}}"#
        let body = try json(AnthropicAdapter.upstreamBody(for: anthropicCall(client, style: .anthropic, target: target), stream: false).0)
        #expect(body["metadata"] == ["user_id": "u1", "team": "a"])
        #expect(body["top_k"] == 7)
        let translated = try json(
            AnthropicAdapter.upstreamBody(
                for: anthropicCall(#"{"model":"a","user":"u2","messages":[{"role":"user","content":"hi"}]}"#, target: target),
                stream: false
            ).0)
        #expect(translated["metadata"] == ["user_id": "u2", "team": "a"])
    }

    @Test func passThroughRequestKeepsTheClientBytes() async throws {
        let client = #"{"model":"alias","max_tokens":64,"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}],"top_k":3,"service_tier":"auto"}"#
        let transport = ScriptedTransport { _ in .json(200, AnthropicFixtures.textMessage) }
        let result = try await AnthropicAdapter(transport: transport).complete(
            try anthropicCall(client, style: .anthropic, headers: [.anthropicBeta: "prompt-caching-2024-07-31", .anthropicVersion: "2023-01-01"]))
        let sent = transport.requests.withLock { $0[0] }
        #expect(String(buffer: sent.body!) == client.replacingOccurrences(of: #""model":"alias""#, with: #""model":"claude-x""#))
        #expect(sent.headers[.anthropicBeta] == "prompt-caching-2024-07-31")
        #expect(sent.headers[.anthropicVersion] == "2023-01-01")
        guard case .raw(let body) = result.body else {
            Issue.record("same-style completion should be passed through raw")
            return
        }
        #expect(String(buffer: body) == AnthropicFixtures.textMessage)
        #expect(result.usage == Usage(promptTokens: 2095 + 2051 + 2051, completionTokens: 503, cachedTokens: 2051))
    }

    @Test func tokenCountsComeFromTheCountingEndpoint() async throws {
        let transport = ScriptedTransport { _ in .json(200, #"{"input_tokens":2095}"#) }
        let adapter = AnthropicAdapter(transport: transport)
        let native = #"{"model":"alias","messages":[{"role":"user","content":"hi"}],"system":"s"}"#
        #expect(try await adapter.countTokens(try anthropicCall(native, style: .anthropic)) == 2095)
        let sent = transport.requests.withLock { $0[0] }
        #expect(sent.url == "https://api.anthropic.test/v1/messages/count_tokens")
        #expect(String(buffer: sent.body!) == native.replacingOccurrences(of: "alias", with: "claude-x"))
        let translated = #"{"model":"a","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"max_tokens":9}"#
        #expect(try await adapter.countTokens(try anthropicCall(translated)) == 2095)
        let body = try json(transport.requests.withLock { $0[1].body })
        #expect(body == j(#"{"model":"claude-x","messages":[{"role":"user","content":"hi"}]}"#))
        let broken = AnthropicAdapter(transport: ScriptedTransport { _ in .json(200, "{}") })
        await #expect(throws: GatewayError.self) { _ = try await broken.countTokens(try anthropicCall(native, style: .anthropic)) }
    }
}

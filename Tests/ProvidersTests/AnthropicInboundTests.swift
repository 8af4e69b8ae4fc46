import Foundation
import Logging
import NIOCore
import OrchestratorCore
import Testing

@testable import Providers

struct AnthropicInboundCodecTests {
    let codec = AnthropicInboundCodec()

    @Test func requestToCanonical() throws {
        let body = #"""
            {"model":"claude-alias","max_tokens":1024,"system":"Be brief.","stream":true,"stop_sequences":["###"],
             "temperature":0.3,"top_p":0.8,"top_k":5,"metadata":{"user_id":"u-1"},
             "tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},
                      {"type":"web_search_20250305","name":"web_search","max_uses":2}],
             "tool_choice":{"type":"any","disable_parallel_tool_use":true},
             "messages":[
              {"role":"user","content":[{"type":"text","text":"Look:"},{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQ"}},
                {"type":"image","source":{"type":"url","url":"https://example.com/i.png"}}]},
              {"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s1"},{"type":"text","text":"Let me check."},
                {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"18C"}]},{"type":"text","text":"And tomorrow?"}]}]}
            """#
        let chat = try codec.decodeChatRequest(ByteBuffer(string: body))
        #expect(chat.model == "claude-alias")
        #expect(chat.maxTokens == 1024)
        #expect(chat.stream == true)
        #expect(chat.wantsStreamUsage)
        #expect(chat.stop == .multiple(["###"]))
        #expect(chat.temperature == 0.3 && chat.topP == 0.8)
        #expect(chat.user == "u-1")
        #expect(chat.extra.isEmpty, "Anthropic-only fields must not leak to other providers")
        #expect(chat.tools == [Tool(function: FunctionDefinition(name: "get_weather", description: "Weather", parameters: ["type": "object", "properties": ["city": ["type": "string"]]]))])
        #expect(chat.toolChoice == .required)
        #expect(chat.parallelToolCalls == false)
        #expect(chat.messages.count == 5)
        #expect(chat.messages[0] == ChatMessage(role: .system, content: .text("Be brief.")))
        #expect(
            chat.messages[1].content
                == .parts([.text("Look:"), .imageURL(.init(url: "data:image/jpeg;base64,/9j/4AAQ")), .imageURL(.init(url: "https://example.com/i.png"))]))
        let assistant = chat.messages[2]
        #expect(assistant.content == .text("Let me check."))
        #expect(assistant.reasoningContent == "hm")
        #expect(assistant.toolCalls == [ToolCall(id: "toolu_1", function: FunctionCall(name: "get_weather", arguments: #"{"city":"Paris"}"#))])
        #expect(assistant.extra["thinking_blocks"] == [["type": "thinking", "thinking": "hm", "signature": "s1"]])
        #expect(chat.messages[3] == ChatMessage(role: .tool, content: .text("18C"), toolCallID: "toolu_1"))
        #expect(chat.messages[4] == ChatMessage(role: .user, content: .text("And tomorrow?")))
        #expect(chat.requiredCapabilities == [.tools, .vision])
    }

    @Test func toolResultImagesAndErrorsBecomeWhatOpenAIAccepts() throws {
        let body = #"""
            {"model":"m","max_tokens":10,"tool_choice":{"type":"auto"},"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[
              {"role":"user","content":"look"},
              {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"screenshot","input":{}},{"type":"tool_use","id":"t2","name":"read","input":{}}]},
              {"role":"user","content":[
                {"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"here"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]},
                {"type":"tool_result","tool_use_id":"t2","is_error":true,"content":"no such file"},
                {"type":"text","text":"what do you see?"}]}]}
            """#
        let chat = try codec.decodeChatRequest(ByteBuffer(string: body))
        #expect(chat.messages.count == 5)
        #expect(chat.messages[2] == ChatMessage(role: .tool, content: .text("here\n[1 attachment(s) follow in the next user message]"), toolCallID: "t1"))
        #expect(chat.messages[3] == ChatMessage(role: .tool, content: .text("Error: no such file"), toolCallID: "t2"))
        #expect(chat.messages[4] == ChatMessage(role: .user, content: .parts([.imageURL(.init(url: "data:image/png;base64,AAAA")), .text("what do you see?")])))
        // Only a server tool: no tools for an OpenAI upstream, so no tool_choice either.
        #expect(chat.tools == nil && chat.toolChoice == nil)
    }

    @Test func anOpenAIUpstreamGetsAValidRequest() throws {
        // Thinking history from an Anthropic client is refused by OpenAI-style servers;
        // OpenAI's own API wants max_completion_tokens.
        let body = #"""
            {"model":"m","max_tokens":300,"messages":[{"role":"user","content":"hi"},
              {"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"Hello"}]},
              {"role":"user","content":"again"}]}
            """#
        let chat = try codec.decodeChatRequest(ByteBuffer(string: body))
        func sent(baseURL: String) throws -> JSONValue {
            let call = ProviderCall(
                request: InboundRequest(style: .anthropic, body: ByteBuffer(string: body), chat: chat, requestID: "r", receivedAtMillis: 0),
                provider: ProviderConfig(name: "o", type: .openai, baseURL: baseURL),
                target: TargetConfig(provider: "o", model: "gpt-x"), apiKey: nil, deadline: .now, logger: .init(label: "t"))
            return try json(OpenAIAdapter.upstreamBody(for: call, stream: false))
        }
        let openai = try sent(baseURL: "https://api.openai.com/v1")
        #expect(openai["max_completion_tokens"] == 300 && openai["max_tokens"] == nil)
        #expect(openai["messages"]?.arrayValue?[1] == ["role": "assistant", "content": "Hello"])
        let vllm = try sent(baseURL: "http://vllm.internal:8000/v1")
        #expect(vllm["max_tokens"] == 300 && vllm["max_completion_tokens"] == nil)
        #expect(vllm["messages"]?.arrayValue?[1] == ["role": "assistant", "content": "Hello"])
    }

    @Test func systemBlocksBecomeOneString() throws {
        let body = #"{"model":"m","max_tokens":5,"system":[{"type":"text","text":"You are Claude Code."},{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}"#
        let chat = try codec.decodeChatRequest(ByteBuffer(string: body))
        #expect(chat.messages.first == ChatMessage(role: .system, content: .text("You are Claude Code.\n\nBe brief.")))
    }

    @Test func validationErrorsNameTheField() {
        let cases: [(String, String)] = [
            (#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#, "max_tokens"),
            (#"{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}"#, "max_tokens"),
            (#"{"model":"m","max_tokens":10,"messages":[]}"#, "messages"),
            (#"{"model":"m","max_tokens":10,"messages":[{"role":"system","content":"hi"}]}"#, "messages[0].role"),
            (#"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":42}]}"#, "messages[0].content"),
            (#"{"model":"m","max_tokens":10,"temperature":1.5,"messages":[{"role":"user","content":"hi"}]}"#, "temperature"),
            (#"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f"}]}"#, "tools[0].input_schema"),
            (#"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tool_choice":{"type":"tool"}}"#, "tool_choice.name"),
            (#"{"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#, "model"),
        ]
        for (body, param) in cases {
            do {
                _ = try codec.decodeChatRequest(ByteBuffer(string: body))
                Issue.record("expected a 400 for \(param)")
            } catch {
                #expect(error.status == 400)
                #expect(error.param == param, "\(body)")
            }
        }
        #expect(throws: GatewayError.self) { _ = try codec.decodeChatRequest(ByteBuffer(string: "{not json")) }
        // Token counting needs no max_tokens.
        #expect(throws: Never.self) {
            _ = try codec.decodeTokenCountRequest(ByteBuffer(string: #"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#))
        }
    }

    @Test func completionToMessage() throws {
        var usage = Usage(promptTokens: 120, completionTokens: 30, cachedTokens: 100)
        usage.reasoningTokens = 5
        let completion = ChatCompletion(
            id: "chatcmpl-1", created: 1, model: "gpt-x",
            choices: [
                .init(
                    index: 0,
                    message: ChatMessage(
                        role: .assistant, content: .text("Calling."),
                        toolCalls: [
                            ToolCall(id: "call_a", function: FunctionCall(name: "f", arguments: #"{"x":1}"#)),
                            ToolCall(id: "call_b", function: FunctionCall(name: "g", arguments: "{}")),
                        ], reasoningContent: "thought"),
                    finishReason: "tool_calls")
            ], usage: usage)
        let message = try json(try codec.encodeCompletion(completion))
        #expect(
            message
                == j(
                    #"""
                    {"id":"msg_chatcmpl-1","type":"message","role":"assistant","model":"gpt-x",
                     "content":[{"type":"thinking","thinking":"thought","signature":""},{"type":"text","text":"Calling."},
                      {"type":"tool_use","id":"call_a","name":"f","input":{"x":1}},{"type":"tool_use","id":"call_b","name":"g","input":{}}],
                     "stop_reason":"tool_use","stop_sequence":null,
                     "usage":{"input_tokens":20,"output_tokens":30,"cache_read_input_tokens":100,"cache_creation_input_tokens":0}}
                    """#))
        let lengthStop = ChatCompletion(
            id: "c", created: 1, model: "m",
            choices: [.init(index: 0, message: ChatMessage(role: .assistant, content: .text("cut")), finishReason: "length")])
        #expect(try json(codec.encodeCompletion(lengthStop))["stop_reason"] == "max_tokens")
    }

    @Test func errorShape() throws {
        let cases: [(GatewayError, String)] = [
            (.invalidRequest("bad"), "invalid_request_error"), (.unauthorized(), "authentication_error"),
            (.forbidden("no"), "permission_error"), (.modelNotFound("m"), "not_found_error"),
            (.payloadTooLarge(limit: 1), "request_too_large"),
            (GatewayError(status: 429, type: "rate_limit_error", message: "slow"), "rate_limit_error"),
            (.internalError(), "api_error"), (.badUpstreamResponse("x"), "api_error"),
            (.noAvailableTarget("m"), "overloaded_error"), (.timeout("late"), "timeout_error"),
        ]
        for (error, type) in cases {
            let body = try json(codec.encodeError(error))
            #expect(body == ["type": "error", "error": ["type": .string(type), "message": .string(error.message)]])
        }
        let event = String(buffer: AnthropicStreamEncoder(estimatedInputTokens: 1).encodeError(.timeout("late \"quoted\"")))
        #expect(event == "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"timeout_error\",\"message\":\"late \\\"quoted\\\"\"}}\n\n")
    }
}

struct AnthropicStreamEncoderTests {
    static func events(_ bytes: [ByteBuffer]) throws -> [(String, JSONValue)] {
        var parser = SSEParser()
        var out: [(String, JSONValue)] = []
        for buffer in bytes {
            for event in try parser.feed(buffer) {
                out.append((event.event ?? "", try json(event.data)))
            }
        }
        return out
    }

    func chunk(_ delta: ChatCompletionChunk.Delta, finish: String? = nil) -> ChatCompletionChunk {
        ChatCompletionChunk(id: "chatcmpl-9", created: 1, model: "gpt-x", choices: [.init(index: 0, delta: delta, finishReason: finish)])
    }

    @Test func textAndParallelToolCallsMakeTheAnthropicSequence() throws {
        var encoder = AnthropicStreamEncoder(estimatedInputTokens: 12)
        var out: [ByteBuffer] = []
        let chunks = [
            chunk(.init(role: "assistant", content: "")),
            chunk(.init(reasoningContent: "think")),
            chunk(.init(content: "Hel")), chunk(.init(content: "lo")),
            chunk(.init(toolCalls: [.init(index: 0, id: "call_1", type: "function", function: .init(name: "f", arguments: ""))])),
            chunk(.init(toolCalls: [.init(index: 0, function: .init(arguments: "{\"a\":"))])),
            chunk(.init(toolCalls: [.init(index: 0, function: .init(arguments: "1}"))])),
            chunk(.init(toolCalls: [.init(index: 1, id: "call_2", type: "function", function: .init(name: "g", arguments: "{}"))])),
            chunk(.init(), finish: "tool_calls"),
            ChatCompletionChunk(id: "chatcmpl-9", created: 1, model: "gpt-x", choices: [], usage: Usage(promptTokens: 40, completionTokens: 9, cachedTokens: 10)),
        ]
        for c in chunks { if let b = try encoder.encode(c) { out.append(b) } }
        if let end = encoder.finish() { out.append(end) }
        let events = try Self.events(out)
        #expect(
            events.map(\.0) == [
                "message_start",
                "content_block_start", "content_block_delta", "content_block_stop",  // thinking
                "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",  // text
                "content_block_start", "content_block_delta", "content_block_delta",  // tool 1
                "content_block_start", "content_block_delta",  // tool 2
                "content_block_stop", "content_block_stop",  // tool blocks stay open until the end
                "message_delta", "message_stop",
            ])
        // Every event's data carries its own name as `type`.
        #expect(events.allSatisfy { $0.1["type"]?.stringValue == $0.0 })
        #expect(events[0].1["message"]?["id"] == "msg_chatcmpl-9")
        #expect(events[0].1["message"]?["usage"] == ["input_tokens": 12, "output_tokens": 0])
        #expect(events[1].1["content_block"] == ["type": "thinking", "thinking": "", "signature": ""])
        #expect(events[2].1["delta"] == ["type": "thinking_delta", "thinking": "think"])
        #expect(events[4].1["index"] == 1)
        #expect(events[5].1["delta"] == ["type": "text_delta", "text": "Hel"])
        #expect(events[8].1 == j(#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"call_1","name":"f","input":{}}}"#))
        #expect(events[9].1["delta"] == ["type": "input_json_delta", "partial_json": "{\"a\":"])
        #expect(events[11].1["index"] == 3)
        #expect(events[11].1["content_block"]?["id"] == "call_2")
        #expect(events[12].1["delta"]?["partial_json"] == "{}")
        #expect(events[13].1["index"] == 2 && events[14].1["index"] == 3)
        #expect(
            events[15].1
                == j(
                    #"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9,"input_tokens":30,"cache_read_input_tokens":10,"cache_creation_input_tokens":0}}"#
                ))
    }

    @Test func interleavedToolCallsStayInTheirBlocksAndStopReasonFollowsToolCalls() throws {
        var encoder = AnthropicStreamEncoder(estimatedInputTokens: 1)
        var out: [ByteBuffer] = []
        let chunks = [
            chunk(.init(toolCalls: [.init(index: 0, id: "a", type: "function", function: .init(name: "f", arguments: "{\"x\""))])),
            chunk(.init(toolCalls: [.init(index: 1, id: "b", type: "function", function: .init(name: "g", arguments: "{}"))])),
            chunk(.init(toolCalls: [.init(index: 0, function: .init(arguments: ":1}"))])),
            // A server that reuses an index for a new call.
            chunk(.init(toolCalls: [.init(index: 1, id: "c", type: "function", function: .init(name: "h", arguments: "{}"))])),
            chunk(.init(), finish: "stop"),
        ]
        for c in chunks { if let b = try encoder.encode(c) { out.append(b) } }
        out.append(encoder.finish()!)
        let events = try Self.events(out)
        let starts = events.filter { $0.0 == "content_block_start" }.map { ($0.1["index"]?.intValue ?? -1, $0.1["content_block"]?["id"]?.stringValue ?? "") }
        #expect(starts.map(\.0) == [0, 1, 2] && starts.map(\.1) == ["a", "b", "c"])
        // No delta after its block's stop.
        var stopped: Set<Int> = []
        for (name, data) in events {
            let index = data["index"]?.intValue ?? -1
            if name == "content_block_stop" { stopped.insert(index) }
            if name == "content_block_delta" { #expect(!stopped.contains(index), "delta on stopped block \(index)") }
        }
        let fragments = events.filter { $0.0 == "content_block_delta" && $0.1["index"] == 0 }.compactMap { $0.1["delta"]?["partial_json"]?.stringValue }
        #expect(fragments.joined() == "{\"x\":1}")
        #expect(events.first { $0.0 == "message_delta" }?.1["delta"]?["stop_reason"] == "tool_use")
        // No usage from the upstream: the output is estimated, not zero.
        #expect((events.first { $0.0 == "message_delta" }?.1["usage"]?["output_tokens"]?.intValue ?? 0) > 0)
    }

    @Test func rawPassThroughPartsGetNoExtraEnding() {
        var encoder = AnthropicStreamEncoder(estimatedInputTokens: 1)
        #expect(encoder.finish() == nil)
    }

    @Test func anEmptyCanonicalStreamStillFramesAMessage() throws {
        var encoder = AnthropicStreamEncoder(estimatedInputTokens: 3)
        _ = try encoder.encode(ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [.init(index: 0, delta: .init(), finishReason: "stop")]))
        let events = try Self.events([encoder.finish()!])
        #expect(events.map(\.0) == ["message_delta", "message_stop"])
        #expect(events[0].1["delta"]?["stop_reason"] == "end_turn")
    }
}

/// canonical → Anthropic → canonical is the identity on the subset both formats share:
/// one leading system prompt, alternating user/assistant turns (text, images, tool
/// calls with object arguments, thinking blocks with signatures), tool results,
/// function tools with schemas, every tool choice, stop sequences, sampling, user.
struct AnthropicRoundTripTests {
    typealias Generator = SplitMix64

    static func text(_ g: inout Generator) -> String {
        let words = ["hello", "wörld", "\"quoted\"", "line\nbreak", "emoji 🎉", "back\\slash", "tab\t", "<tag>", "42"]
        return (0..<Int.random(in: 1...4, using: &g)).map { _ in words.randomElement(using: &g)! }.joined(separator: " ")
    }

    static func arguments(_ g: inout Generator) -> String {
        var object: [String: JSONValue] = [:]
        for key in ["city", "days", "flag", "nested"].shuffled(using: &g).prefix(Int.random(in: 0...3, using: &g)) {
            switch key {
            case "city": object[key] = .string(text(&g))
            case "days": object[key] = .int(Int64.random(in: -5...90_071_992_547_409, using: &g))
            case "flag": object[key] = .bool(Bool.random(using: &g))
            default: object[key] = ["a": [1, 2.5, "x"], "b": .null]
            }
        }
        return JSONValueDecoding.compactJSON(.object(object))
    }

    static func request(seed: UInt64) -> ChatRequest {
        var g = Generator(seed: seed)
        var messages: [ChatMessage] = []
        if Bool.random(using: &g) { messages.append(ChatMessage(role: .system, content: .text(text(&g)))) }
        var toolNames: [String] = []
        let tools: [Tool]? = Bool.random(using: &g) ? ["get_weather", "get_time"].map { name in
            toolNames.append(name)
            return Tool(function: FunctionDefinition(
                name: name, description: Bool.random(using: &g) ? text(&g) : nil,
                parameters: ["type": "object", "properties": ["city": ["type": "string"]]]))
        } : nil
        var callCounter = 0
        for turn in 0..<Int.random(in: 1...4, using: &g) {
            // user turn
            if Bool.random(using: &g) {
                messages.append(ChatMessage(role: .user, content: .text(text(&g))))
            } else {
                var parts: [ContentPart] = [.text(text(&g))]
                parts.append(Bool.random(using: &g) ? .imageURL(.init(url: "data:image/png;base64,iVBOR\(turn)")) : .imageURL(.init(url: "https://example.com/\(turn).png")))
                if Bool.random(using: &g) { parts.append(.text(text(&g))) }
                messages.append(ChatMessage(role: .user, content: .parts(parts)))
            }
            // assistant turn
            var assistant = ChatMessage(role: .assistant)
            let withCalls = !toolNames.isEmpty && Bool.random(using: &g)
            if !withCalls || Bool.random(using: &g) { assistant.content = .text(text(&g)) }
            if Bool.random(using: &g) {
                let thought = text(&g)
                assistant.reasoningContent = thought
                assistant.extra["thinking_blocks"] = [["type": "thinking", "thinking": .string(thought), "signature": .string("sig\(turn)")]]
            }
            if withCalls {
                assistant.toolCalls = (0..<Int.random(in: 1...2, using: &g)).map { _ in
                    callCounter += 1
                    return ToolCall(id: "toolu_\(callCounter)", function: FunctionCall(name: toolNames.randomElement(using: &g)!, arguments: arguments(&g)))
                }
            }
            messages.append(assistant)
            for call in assistant.toolCalls ?? [] {
                messages.append(ChatMessage(role: .tool, content: .text(text(&g)), toolCallID: call.id))
            }
        }
        if messages.last?.role != .user { messages.append(ChatMessage(role: .user, content: .text(text(&g)))) }
        var chat = ChatRequest(model: "m", messages: messages)
        chat.maxTokens = Int.random(in: 1...8192, using: &g)
        if Bool.random(using: &g) { chat.temperature = Double(Int.random(in: 0...100, using: &g)) / 100 }
        if Bool.random(using: &g) { chat.topP = Double(Int.random(in: 0...100, using: &g)) / 100 }
        if Bool.random(using: &g) { chat.stop = .multiple((0..<Int.random(in: 1...3, using: &g)).map { "S\($0)" }) }
        if Bool.random(using: &g) { chat.user = "user-\(seed)" }
        chat.tools = tools
        if tools != nil, Bool.random(using: &g) {
            chat.toolChoice = [ToolChoice.auto, .none, .required, .function(name: "get_time")].randomElement(using: &g)
            if chat.toolChoice != ToolChoice.none, Bool.random(using: &g) { chat.parallelToolCalls = false }
        }
        return chat
    }

    @Test func canonicalToAnthropicAndBackIsTheIdentity() throws {
        for seed in UInt64(1)...400 {
            let original = Self.request(seed: seed)
            let outbound = try AnthropicTranslation.request(from: original, model: "m", maxTokensDefault: nil, stream: false)
            let wire = try JSONCoding.encode(outbound.request)
            let back = try AnthropicInboundCodec().decodeChatRequest(wire)
            #expect(back == original, "seed \(seed): \(String(buffer: wire))")
            if back != original { break }
        }
    }
}

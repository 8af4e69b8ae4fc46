import Foundation
import NIOCore
import Testing

@testable import OrchestratorCore
@testable import Providers

/// Upstream answers that the gateway translates (an OpenAI completion for an Anthropic
/// client, an Anthropic or Gemini answer for an OpenAI one, each event of such a stream)
/// are read as a tree when the validator accepts them. Whatever `JSONCoding.decode`
/// gives must be what `JSONDecoder` alone gives: the same value, or an error where it
/// throws. Checked on the providers' published examples and on generated answers of
/// every shape the wire types read, well-formed or not.
struct UpstreamDecodingTests {
    /// Decodes `text` both ways; returns whether the value was read without `JSONDecoder`
    /// (by a fast reader or the tree).
    @discardableResult
    static func check<T: Decodable & Equatable>(
        _ type: T.Type, _ text: String, sourceLocation: SourceLocation = #_sourceLocation
    ) -> Bool {
        var utf8Text = text
        return utf8Text.withUTF8 { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            let reference = try? JSONCoding.decodeWithJSONDecoder(T.self, from: bytes)
            let read = JSONCoding.decodeValidated(T.self, from: bytes)
            if let read { #expect(read == reference, "\(text)", sourceLocation: sourceLocation) }
            // Every entry point: bytes in place, a buffer, a string.
            #expect((try? JSONCoding.decode(T.self, from: bytes)) == reference, "\(text)", sourceLocation: sourceLocation)
            #expect(
                (try? JSONCoding.decode(T.self, from: ByteBuffer(bytes: bytes))) == reference, "\(text)",
                sourceLocation: sourceLocation)
            #expect(
                (try? JSONCoding.decode(T.self, from: String(decoding: bytes, as: UTF8.self))) == reference, "\(text)",
                sourceLocation: sourceLocation)
            return read != nil
        }
    }

    /// `text` as `T`'s fast reader reads it from validated bytes (nil when the validator
    /// refuses them or the reader leaves them to the slow path).
    static func fast<T: JSONFastDecodable>(_ type: T.Type, _ text: String) -> T? {
        var utf8Text = text
        return utf8Text.withUTF8 { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            do throws(JSONValidator.Violation) {
                try JSONValidator.validate(bytes)
            } catch {
                return nil
            }
            return JSONFastReader.document(bytes) { T.read(&$0) }
        }
    }

    static func fastChunk(_ text: String) -> ChatCompletionChunk? { fast(ChatCompletionChunk.self, text) }

    /// A chunk decoded as the stream translator decodes it: with the concrete type, which
    /// picks `JSONCoding`'s overloads for a type with its own reader (bytes in place and a
    /// buffer, which must agree).
    static func concrete(_ text: String) -> ChatCompletionChunk? {
        var utf8Text = text
        return utf8Text.withUTF8 { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            let inPlace = try? JSONCoding.decode(ChatCompletionChunk.self, from: bytes)
            let buffered = try? JSONCoding.decode(ChatCompletionChunk.self, from: ByteBuffer(bytes: bytes))
            #expect(inPlace == buffered, "\(text)")
            return inPlace
        }
    }

    /// `text` decoded with `JSONDecoder` alone.
    static func reference<T: Decodable>(_ type: T.Type, _ text: String) -> T? {
        var utf8Text = text
        return utf8Text.withUTF8 { try? JSONCoding.decodeWithJSONDecoder(T.self, from: UnsafeRawBufferPointer($0)) }
    }

    static func coreFixture(_ name: String) throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("OrchestratorCoreTests/Fixtures/\(name)")
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// The `data:` payloads of an SSE text.
    static func events(_ sse: String) -> [String] {
        sse.split(whereSeparator: \.isNewline).compactMap { line in
            line.hasPrefix("data: ") ? String(line.dropFirst("data: ".count)) : nil
        }
    }

    // Anthropic's Messages API reference: a response with text, and one that calls a tool.
    static let anthropicText = """
        {"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",\
        "content":[{"type":"text","text":"Hi! My name is Claude."}],"stop_reason":"end_turn","stop_sequence":null,\
        "usage":{"input_tokens":2095,"output_tokens":503,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,\
        "cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"service_tier":"standard"}}
        """
    static let anthropicToolUse = """
        {"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"claude-sonnet-4-5",\
        "content":[{"type":"thinking","thinking":"The user wants the weather.","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"},\
        {"type":"text","text":"I'll check the weather in San Francisco."},\
        {"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"location":"San Francisco, CA","unit":"celsius"}}],\
        "stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":89}}
        """
    // Anthropic's streaming reference: the events a translated stream reads as values.
    static let anthropicEvents = [
        #"{"type":"message_start","message":{"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
        #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
        #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\": \"San Fra"}}"#,
        #"{"type":"content_block_stop","index":0}"#,
        #"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
        #"{"type":"message_stop"}"#,
        #"{"type":"ping"}"#,
    ]

    @Test func providersPublishedAnswersDecodeAsJSONDecoderDecodesThem() throws {
        let toolCalls = try Self.coreFixture("response_tool_calls.json")
        #expect(Self.check(ChatCompletion.self, toolCalls))
        #expect(Self.fast(ChatCompletion.self, toolCalls) != nil)
        #expect(Self.fast(ChatCompletion.self, toolCalls) == Self.reference(ChatCompletion.self, toolCalls))
        #expect(Self.check(ChatCompletionChunk.self, try Self.coreFixture("chunk_tool_call.json")))
        let bench = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("bench/mock")
        let benchCompletion = try String(contentsOf: bench.appendingPathComponent("chat_completion.json"), encoding: .utf8)
        #expect(Self.check(ChatCompletion.self, benchCompletion))
        #expect(Self.fast(ChatCompletion.self, benchCompletion) != nil)
        #expect(Self.fast(ChatCompletion.self, benchCompletion) == Self.reference(ChatCompletion.self, benchCompletion))
        for event in Self.events(try String(contentsOf: bench.appendingPathComponent("chat_stream.sse"), encoding: .utf8))
        where event != "[DONE]" {
            #expect(Self.check(ChatCompletionChunk.self, event))
            // Every chunk, the usage one too, is read straight from its bytes.
            #expect(Self.fastChunk(event) == Self.reference(ChatCompletionChunk.self, event), "\(event)")
            #expect(Self.fastChunk(event) != nil, "\(event)")
        }
        let toolCallChunk = try Self.coreFixture("chunk_tool_call.json")
        #expect(Self.fastChunk(toolCallChunk) != nil)
        #expect(Self.fastChunk(toolCallChunk) == Self.reference(ChatCompletionChunk.self, toolCallChunk))
        #expect(Self.check(AnthropicResponse.self, Self.anthropicText))
        #expect(Self.check(AnthropicResponse.self, Self.anthropicToolUse))
        for event in Self.anthropicEvents { #expect(Self.check(JSONValue.self, event)) }
        for name in ["response_text.json", "response_function_call.json", "response_blocked.json"] {
            #expect(Self.check(GeminiResponse.self, GeminiFixtures.text(name)))
        }
        for name in ["stream_text.sse", "stream_function_call.sse"] {
            let events = Self.events(GeminiFixtures.text(name))
            #expect(!events.isEmpty)
            for event in events { #expect(Self.check(GeminiResponse.self, event)) }
        }
    }

    /// Bodies the tree must leave to `JSONDecoder`, whose reading (or error) stands.
    @Test func leavesWhatItCannotBeSureOfToJSONDecoder() throws {
        let uncertain = [
            // The same key twice: which one JSONDecoder keeps is its own business.
            #"{"id":"a","object":"chat.completion","created":1,"model":"m","model":"n","choices":[]}"#,
            // A whole number written with a fraction where an integer is meant.
            #"{"id":"a","object":"chat.completion","created":1.0,"model":"m","choices":[]}"#,
            #"{"id":"a","object":"chat.completion","created":1e3,"model":"m","choices":[]}"#,
            // NUL in a string, and an unpaired surrogate escape.
            #"{"id":"a\u0000b","object":"chat.completion","created":1,"model":"m","choices":[]}"#,
            #"{"id":"a\ud800","object":"chat.completion","created":1,"model":"m","choices":[]}"#,
            // An escaped key.
            #"{"\u0069d":"a","object":"chat.completion","created":1,"model":"m","choices":[]}"#,
        ]
        for text in uncertain { #expect(!Self.check(ChatCompletion.self, text), "\(text)") }
        // The duplicate is read as JSONDecoder reads it, not refused.
        let duplicate = try JSONCoding.decode(ChatCompletion.self, from: uncertain[0])
        var duplicateText = uncertain[0]
        let reference = try duplicateText.withUTF8 {
            try JSONCoding.decodeWithJSONDecoder(ChatCompletion.self, from: UnsafeRawBufferPointer($0))
        }
        #expect(duplicate == reference)
        #expect(["m", "n"].contains(duplicate.model))

        let broken = [
            "", "{", "[]", "null", #"{"id":"a"}"#, #"{"id":"a","object":"chat.completion","created":"1","model":"m","choices":[]}"#,
            #"{"id":"a","object":"chat.completion","created":1,"model":"m","choices":[]} trailing"#,
            #"{"id":"a","object":"chat.completion","created":1,"model":"m","choices":[{"index":0}]}"#,
            "\u{FEFF}" + #"{"id":"a","object":"chat.completion","created":1,"model":"m","choices":[]}"#,
        ]
        for text in broken { Self.check(ChatCompletion.self, text) }
        #expect(throws: (any Error).self) { try JSONCoding.decode(ChatCompletion.self, from: "{") }
        #expect(throws: (any Error).self) { try JSONCoding.decode(AnthropicResponse.self, from: #"[{"id":"x"}]"#) }
    }

    /// The chunk reader's readings of members whose decoding has rules of its own, and
    /// what it leaves to the slow path, each against `JSONDecoder`.
    @Test func chunkReaderFollowsTheTypesDecoding() throws {
        let head = #""id":"c","object":"chat.completion.chunk","created":1,"model":"m""#
        let read = [
            // `reasoning` (vLLM, Ollama) is the reasoning text when `reasoning_content` is not.
            #"{\#(head),"choices":[{"index":0,"delta":{"reasoning":"think"}}]}"#,
            #"{\#(head),"choices":[{"index":0,"delta":{"reasoning_content":null,"reasoning":"think"}}]}"#,
            #"{\#(head),"choices":[{"index":0,"delta":{"reasoning":"b","reasoning_content":"a"}}]}"#,
            // …and stays an unknown member when it is not text.
            #"{\#(head),"choices":[{"index":0,"delta":{"reasoning":{"summary":"x"}}}]}"#,
            #"{\#(head),"choices":[{"index":0,"delta":{"reasoning":null}}]}"#,
            // Absent and null members take the type's defaults.
            #"{"choices":[{}]}"#, #"{"id":null,"object":null,"created":null,"model":null,"choices":null}"#,
            #"{\#(head),"choices":[{"index":null,"delta":null,"finish_reason":null,"logprobs":null}]}"#,
            #"{\#(head),"choices":[{"delta":{"role":null,"content":null,"refusal":null,"tool_calls":null}}]}"#,
            // Unknown members at every level, kept as sent; the function's are not kept.
            #"{\#(head),"x":[1,-2,3.5,{"k":true}],"choices":[{"index":1,"y":{},"delta":{"z":"w","tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"f","arguments":"{}","other":1},"extra_content":{"google":{"thought_signature":"s"}}}]}}]}"#,
            #"{\#(head),"choices":[{"index":0,"delta":{"tool_calls":[{"index":2,"function":null}]}}],"usage":null,"system_fingerprint":"fp"}"#,
            #"{\#(head),"choices":[{"index":0,"delta":{"content":"caf\u00e9 \ud83d\ude00 \"q\""},"logprobs":{"content":[{"token":"a","logprob":-0.5,"bytes":[97]}]}}]}"#,
            #"{"id":"c","created":-9223372036854775808,"choices":[]}"#,
            // The usage chunk, with its details and DeepSeek's count.
            #"{\#(head),"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":{"cached_tokens":1},"prompt_cache_hit_tokens":1}}"#,
            "  {\(head),\n \"choices\" : [ { \"delta\" : { \"content\" : \"a\" } } ] }\n",
        ]
        for text in read {
            let reference = try #require(Self.reference(ChatCompletionChunk.self, text), "\(text)")
            #expect(Self.fastChunk(text) == reference, "\(text)")
            #expect(try JSONCoding.decode(ChatCompletionChunk.self, from: text) == reference, "\(text)")
            #expect(Self.concrete(text) == reference, "\(text)")
        }
        let reasoning = try #require(Self.fastChunk(read[0])).choices[0].delta
        #expect(reasoning.reasoningContent == "think" && reasoning.extra.isEmpty)
        #expect(try #require(Self.fastChunk(read[2])).choices[0].delta.reasoningContent == "a")
        #expect(try #require(Self.fastChunk(read[3])).choices[0].delta.extra["reasoning"] != nil)

        // Left to the slow path, which reads them (or refuses them) as `JSONDecoder` does.
        let left = [
            #"{"id":"c","created":1.0,"choices":[]}"#, #"{"id":"c","created":1e3,"choices":[]}"#,
            #"{"id":"c","created":9223372036854775808,"choices":[]}"#,
            #"{\#(head),"choices":[{"index":1.5}]}"#, #"{\#(head),"choices":[{"index":0,"delta":{"content":["a"]}}]}"#,
            #"{\#(head),"choices":[{"index":0,"delta":{"tool_calls":[{"id":"t"}]}}]}"#,
            #"{\#(head),"choices":[{"index":0,"delta":{"tool_calls":[{"index":null}]}}]}"#,
            #"{\#(head),"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":1}}]}}]}"#,
            #"{\#(head),"choices":[{"\u0069ndex":0}]}"#, #"{\#(head),"choices":{}}"#, #"{\#(head),"choices":["a"]}"#,
            #"{\#(head),"e\u0301":1,"\u00e9":2,"choices":[]}"#, #"{\#(head),"x":1.0,"choices":[]}"#, "[]", "null",
            #"{\#(head),"choices":[],"usage":{"prompt_tokens":1.0}}"#, #"{\#(head),"choices":[],"usage":[]}"#,
        ]
        for text in left {
            #expect(Self.fastChunk(text) == nil, "\(text)")
            Self.check(ChatCompletionChunk.self, text)
            #expect(Self.concrete(text) == Self.reference(ChatCompletionChunk.self, text), "\(text)")
        }
        // The key written two ways (precomposed and not) as two members.
        #expect(Self.fastChunk("{\"e\u{301}\":1,\"\u{e9}\":2}") == nil)
    }

    /// The completion reader's readings of the message and usage rules, and what it
    /// leaves to the slow path, each against `JSONDecoder`.
    @Test func completionReaderFollowsTheTypesDecoding() throws {
        let head = #""id":"c","object":"chat.completion","created":1,"model":"m""#
        func answer(_ message: String, usage: String = "null") -> String {
            #"{\#(head),"choices":[{"index":0,"message":\#(message),"logprobs":null,"finish_reason":"stop"}],"usage":\#(usage)}"#
        }
        let read = [
            answer(#"{"role":"assistant","content":"Hi","refusal":null,"annotations":[]}"#),
            answer(#"{"role":"assistant","content":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]}"#),
            answer(#"{"role":"assistant","content":"x","reasoning":"think"}"#),
            answer(#"{"role":"assistant","content":"x","reasoning_content":"a","reasoning":"b"}"#),
            answer(#"{"role":"assistant","reasoning":[1]}"#),
            answer(#"{"role":"tool","content":"r","tool_call_id":"t","name":"n","x":{"y":null}}"#),
            answer(#"{"role":"assistant","content":"x"}"#, usage: #"{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":2,"accepted_prediction_tokens":0}}"#),
            answer(#"{"role":"assistant","content":"x"}"#, usage: #"{"prompt_tokens":5,"completion_tokens":1,"prompt_cache_hit_tokens":3,"prompt_cache_miss_tokens":2}"#),
            answer(#"{"role":"assistant","content":"x"}"#, usage: #"{"prompt_tokens_details":{"cached_tokens":null},"prompt_cache_hit_tokens":7}"#),
            answer(#"{"role":"assistant","content":"x"}"#, usage: #"{"prompt_tokens_details":null,"completion_tokens_details":null,"prompt_cache_hit_tokens":"7"}"#),
            answer(#"{"role":"assistant","content":"x"}"#, usage: #"{"prompt_tokens":9223372036854775807,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":2.5}}"#),
            #"{"choices":[]}"#, #"{"id":null,"created":null,"choices":[{"message":{"role":"user"},"index":null}],"system_fingerprint":"fp","x":true}"#,
        ]
        for text in read {
            let reference = try #require(Self.reference(ChatCompletion.self, text), "\(text)")
            #expect(Self.fast(ChatCompletion.self, text) == reference, "\(text)")
            #expect(try JSONCoding.decode(ChatCompletion.self, from: text) == reference, "\(text)")
        }
        let cached = try #require(Self.fast(ChatCompletion.self, read[6])?.usage)
        #expect(cached.cachedTokens == 4 && cached.reasoningTokens == 2 && cached.promptDetailsExtra["audio_tokens"] == .int(0))
        #expect(try #require(Self.fast(ChatCompletion.self, read[8])?.usage).cachedTokens == 7)
        #expect(try #require(Self.fast(ChatCompletion.self, read[2])?.choices.first).message.reasoningContent == "think")

        let left = [
            answer(#"{"role":"user","content":[{"type":"text","text":"parts"}]}"#),
            answer(#"{"role":"robot","content":"x"}"#), answer(#"{"content":"x"}"#), answer("null"),
            answer(#"{"role":"assistant","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"},"extra_content":{}}]}"#),
            answer(#"{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}"#),
            answer(#"{"role":"assistant","content":"x"}"#, usage: #"{"prompt_tokens":1.0}"#),
            answer(#"{"role":"assistant","content":"x"}"#, usage: #"{"prompt_tokens_details":{"cached_tokens":4.0}}"#),
            answer(#"{"role":"assistant","content":"x"}"#, usage: #"{"prompt_tokens_details":[]}"#),
            answer(#"{"role":"assistant","content":"x"}"#, usage: "[]"),
            #"{\#(head),"choices":null}"#, #"{\#(head)}"#, #"{\#(head),"choices":[{"index":0}]}"#,
        ]
        for text in left {
            #expect(Self.fast(ChatCompletion.self, text) == nil, "\(text)")
            Self.check(ChatCompletion.self, text)
        }
    }

    // MARK: generated answers

    static func usage(_ g: inout TreeDecodingTests.Generator) -> String {
        var members = [("prompt_tokens", g.pick(["0", "12", "4096"])), ("completion_tokens", g.pick(["0", "7", "900"])),
                       ("total_tokens", g.pick(["0", "19", "4996"]))]
        if g.chance(2) { members.append(("prompt_tokens_details", g.object([("cached_tokens", g.pick(["0", "64"])), ("audio_tokens", "0")]))) }
        if g.chance(2) {
            members.append(("completion_tokens_details", g.object([("reasoning_tokens", g.pick(["0", "128"])), ("accepted_prediction_tokens", "0")])))
        }
        return g.object(members)
    }

    static func toolCall(_ g: inout TreeDecodingTests.Generator, chunk: Bool) -> String {
        var members = [("id", g.string()), ("type", "\"function\""),
                       ("function", g.object([("name", g.string()), ("arguments", g.pick([#""{\"city\":\"Paris\"}""#, #""""#, g.string()]))]))]
        if chunk { members.append(("index", g.pick(["0", "1"]))) }
        return g.object(members)
    }

    static func message(_ g: inout TreeDecodingTests.Generator, chunk: Bool) -> String {
        var members = [("role", g.pick(["\"assistant\"", "\"tool\"", "null"])),
                       ("content", g.pick(["null", g.string(), g.string()]))]
        if g.chance(2) { members.append(("tool_calls", "[" + (0..<Int(g.random.next() % 3)).map { _ in toolCall(&g, chunk: chunk) }.joined(separator: ",") + "]")) }
        if g.chance(3) { members.append(("refusal", g.pick(["null", g.string()]))) }
        if g.chance(3) { members.append((g.pick(["reasoning_content", "reasoning"]), g.string())) }
        if g.chance(4) { members.append(("annotations", g.untyped())) }
        return g.object(members)
    }

    static func openAIAnswer(_ g: inout TreeDecodingTests.Generator, chunk: Bool) -> String {
        let choices = (0..<Int(g.random.next() % 3)).map { _ in
            g.object([("index", g.pick(["0", "1"])), (chunk ? "delta" : "message", message(&g, chunk: chunk)),
                      ("finish_reason", g.pick(["null", "\"stop\"", "\"tool_calls\"", "\"length\""])),
                      ("logprobs", g.pick(["null", #"{"content":[{"token":"Hi","logprob":-0.31725305,"bytes":[72,105],"top_logprobs":[]}]}"#]))])
        }
        var members = [("id", g.string()), ("object", chunk ? "\"chat.completion.chunk\"" : "\"chat.completion\""),
                       ("created", g.pick(["1699896916", "0"])), ("model", g.string()),
                       ("choices", "[" + choices.joined(separator: ",") + "]")]
        if g.chance(2) { members.append(("usage", g.pick(["null", usage(&g)]))) }
        if g.chance(3) { members.append(("system_fingerprint", g.pick(["null", g.string()]))) }
        if g.chance(3) { members.append(("service_tier", "\"default\"")) }
        return g.object(members)
    }

    static func anthropicAnswer(_ g: inout TreeDecodingTests.Generator) -> String {
        func block(_ g: inout TreeDecodingTests.Generator) -> String {
            switch g.random.next() % 5 {
            case 0: return g.object([("type", "\"text\""), ("text", g.string()), ("citations", g.pick(["null", "[]"]))])
            case 1: return g.object([("type", "\"tool_use\""), ("id", g.string()), ("name", g.string()), ("input", g.untyped())])
            case 2: return g.object([("type", "\"thinking\""), ("thinking", g.string()), ("signature", g.string())])
            case 3: return g.object([("type", "\"redacted_thinking\""), ("data", g.string())])
            default: return g.object([("type", "\"server_tool_use\""), ("id", g.string()), ("name", "\"web_search\""), ("input", g.untyped())])
            }
        }
        let usage = g.object([("input_tokens", g.pick(["0", "25", "2095"])), ("output_tokens", g.pick(["1", "503"])),
                              ("cache_creation_input_tokens", g.pick(["null", "0", "1024"])),
                              ("cache_read_input_tokens", g.pick(["null", "0", "2048"])), ("service_tier", "\"standard\"")])
        return g.object([("id", g.string()), ("type", "\"message\""), ("role", "\"assistant\""), ("model", g.string()),
                         ("content", "[" + (0..<Int(g.random.next() % 4)).map { _ in block(&g) }.joined(separator: ",") + "]"),
                         ("stop_reason", g.pick(["null", "\"end_turn\"", "\"tool_use\"", "\"max_tokens\""])),
                         ("stop_sequence", g.pick(["null", g.string()])), ("usage", usage)])
    }

    static func geminiAnswer(_ g: inout TreeDecodingTests.Generator) -> String {
        func part(_ g: inout TreeDecodingTests.Generator) -> String {
            switch g.random.next() % 4 {
            case 0: return g.object([("text", g.string()), ("thought", g.pick(["true", "false"]))])
            case 1: return g.object([("functionCall", g.object([("name", g.string()), ("args", g.untyped()), ("id", g.string())])),
                                     ("thoughtSignature", g.string())])
            case 2: return g.object([("inlineData", g.object([("mimeType", "\"image/png\""), ("data", "\"iVBORw0KGgo=\"")]))])
            default: return g.object([("text", g.string())])
            }
        }
        let candidates = (0..<Int(g.random.next() % 3)).map { _ in
            g.object([("content", g.object([("role", "\"model\""), ("parts", "[" + (0..<Int(g.random.next() % 3)).map { _ in part(&g) }.joined(separator: ",") + "]")])),
                      ("finishReason", g.pick(["\"STOP\"", "\"MAX_TOKENS\"", "\"SAFETY\""])), ("index", "0"),
                      ("safetyRatings", #"[{"category":"HARM_CATEGORY_HARASSMENT","probability":"NEGLIGIBLE"}]"#),
                      ("avgLogprobs", g.pick(["-0.0521", "-1.25"]))])
        }
        let usage = g.object([("promptTokenCount", g.pick(["0", "8"])), ("candidatesTokenCount", g.pick(["0", "12"])),
                              ("totalTokenCount", g.pick(["20", "0"])), ("thoughtsTokenCount", g.pick(["0", "64"])),
                              ("cachedContentTokenCount", "0"), ("toolUsePromptTokenCount", "3"),
                              ("promptTokensDetails", #"[{"modality":"TEXT","tokenCount":8}]"#)])
        return g.object([("candidates", "[" + candidates.joined(separator: ",") + "]"), ("usageMetadata", usage),
                         ("modelVersion", g.string()), ("responseId", g.string()),
                         ("promptFeedback", g.object([("blockReason", "\"SAFETY\""), ("safetyRatings", "[]")]))])
    }

    /// Runs `make` on 2,500 generated answers (half well-formed) and compares each
    /// reading without `JSONDecoder` (fast reader or tree, and the fast reader alone
    /// where `T` has one) with `JSONDecoder`'s. At least `minimum` (and `fastMinimum`)
    /// must have been read, so that the comparisons are of values.
    ///
    /// The entry points are checked on the fixtures; here each answer is decoded as few
    /// times as the comparison needs, and the loop yields now and then: it runs on the
    /// cooperative pool, which the mock upstreams of the tests beside it need too.
    static func generated<T: Decodable & Equatable>(
        _ type: T.Type, seed: UInt64, minimum: Int, fastMinimum: Int = 0,
        sourceLocation: SourceLocation = #_sourceLocation, _ make: (inout TreeDecodingTests.Generator) -> String
    ) async {
        var g = TreeDecodingTests.Generator(random: SplitMix64(seed: seed))
        var read = 0
        var fast = 0
        var accepted = 0
        for round in 0..<2_500 {
            if round % 50 == 0 { await Task.yield() }
            g.sloppy = round % 2 == 1
            var text = make(&g)
            text.withUTF8 { utf8 in
                let bytes = UnsafeRawBufferPointer(utf8)
                let reference = try? JSONCoding.decodeWithJSONDecoder(T.self, from: bytes)
                if reference != nil { accepted += 1 }
                if let value = JSONCoding.decodeValidated(T.self, from: bytes) {
                    read += 1
                    #expect(value == reference, "\(String(decoding: bytes, as: UTF8.self))", sourceLocation: sourceLocation)
                }
            }
            if let fastType = T.self as? any JSONFastDecodable.Type,
                let value = Self.fast(fastType, text).map({ $0 as! T })
            {
                fast += 1
                #expect(value == Self.reference(T.self, text), "\(text)", sourceLocation: sourceLocation)
            }
        }
        #expect(read >= minimum, "read \(read) of \(accepted) answers JSONDecoder accepts", sourceLocation: sourceLocation)
        #expect(fast >= fastMinimum, "the fast reader read \(fast) of \(accepted)", sourceLocation: sourceLocation)
    }

    @Test func generatedOpenAICompletionsAndChunks() async {
        await Self.generated(ChatCompletion.self, seed: 0xC0, minimum: 1_100, fastMinimum: 1_000) {
            Self.openAIAnswer(&$0, chunk: false)
        }
        await Self.generated(ChatCompletionChunk.self, seed: 0xC1, minimum: 1_100, fastMinimum: 1_300) {
            Self.openAIAnswer(&$0, chunk: true)
        }
    }

    @Test func generatedAnthropicAndGeminiAnswers() async {
        await Self.generated(AnthropicResponse.self, seed: 0xA7, minimum: 1_100) { Self.anthropicAnswer(&$0) }
        await Self.generated(GeminiResponse.self, seed: 0x6E, minimum: 1_100) { Self.geminiAnswer(&$0) }
        await Self.generated(JSONValue.self, seed: 0x1A, minimum: 2_000) { $0.untyped() }
    }
}

import NIOCore
import Testing

@testable import OrchestratorCore
@testable import Providers

/// `AnthropicRequestFastDecoder` reads a Messages request straight from its bytes;
/// whenever it gives a request, it must be the one `JSONDecoder` gives, and it must give
/// one for the shapes agents send.
struct AnthropicFastDecoderTests {
    /// `JSONDecoder`'s reading of a body the validator accepts (nil when it fails), and
    /// the fast decoder's.
    static func readings(_ text: String) -> (reference: AnthropicRequest?, fast: AnthropicRequest?)? {
        let body = ByteBuffer(string: text)
        do throws(GatewayError) {
            try JSONCoding.validateRequest(body)
        } catch {
            return nil
        }
        let reference = try? JSONCoding.decodeValidatedRequestWithJSONDecoder(AnthropicRequest.self, from: body)
        return (reference, body.withUnsafeReadableBytes { AnthropicRequestFastDecoder.decode($0) })
    }

    /// The fast decoder's request, checked against `JSONDecoder`'s.
    @discardableResult
    static func fast(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> AnthropicRequest? {
        guard let (reference, fast) = readings(text) else {
            Issue.record("the validator rejected \(text)", sourceLocation: sourceLocation)
            return nil
        }
        if let fast { #expect(fast == reference, "\(text)", sourceLocation: sourceLocation) }
        return fast
    }

    @Test func generatedRequestsDecodeAsJSONDecoderDecodesThem() {
        var g = TreeDecodingTests.Generator()
        var decoded = 0
        var valid = 0
        for _ in 0..<2500 {
            g.sloppy = g.chance(2)
            let text = TreeDecodingTests.anthropicBody(&g)
            guard let (reference, fast) = Self.readings(text) else { continue }
            if reference != nil { valid += 1 }
            guard let fast else { continue }
            decoded += 1
            #expect(fast == reference, "\(text)")
        }
        // Most bodies JSONDecoder reads, the fast decoder reads too; what it leaves are
        // the generator's numbers such as 1.0 and 1e2, and its escaped keys (311 of 358).
        #expect(decoded > 250 && decoded * 10 >= valid * 8, "the fast decoder read \(decoded) of \(valid) requests JSONDecoder read")
    }

    /// A request with a member of every kind Anthropic's API reference documents
    /// (https://docs.anthropic.com/en/api/messages): system blocks with `cache_control`,
    /// image and document sources, the tool-use round trip, thinking, server tools.
    @Test func readsEveryDocumentedMember() throws {
        let text = #"""
            {
              "model": "claude-sonnet-4-5",
              "max_tokens": 1024,
              "system": [{"type": "text", "text": "You are a coding agent.", "cache_control": {"type": "ephemeral"}}],
              "messages": [
                {"role": "user", "content": [
                  {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                  {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
                  {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Notes"},
                   "title": "notes.txt", "citations": {"enabled": true}},
                  {"type": "text", "text": "What is in these? \u00e9\n\"quoted\""}
                ]},
                {"role": "assistant", "content": [
                  {"type": "thinking", "thinking": "Let me look.", "signature": "EqQBCgIYAhIM"},
                  {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
                  {"type": "text", "text": "I will list the files."},
                  {"id": "toolu_01A09q90qw90lq917835lq9", "type": "tool_use", "name": "bash", "input": {"command": "ls -la", "timeout": 30, "flags": [1, -2, 0.5, null, true]}}
                ]},
                {"role": "user", "content": [
                  {"tool_use_id": "toolu_01A09q90qw90lq917835lq9", "type": "tool_result",
                   "content": [{"type": "text", "text": "total 8"}], "is_error": false},
                  {"type": "tool_result", "tool_use_id": "toolu_2", "content": "ok", "cache_control": {"type": "ephemeral"}},
                  {"type": "tool_result", "tool_use_id": "toolu_3", "content": null}
                ]},
                {"role": "assistant", "content": [{"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "swift"}}]}
              ],
              "tools": [
                {"name": "bash", "description": "Run a shell command", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}, "cache_control": {"type": "ephemeral"}},
                {"type": "custom", "name": "noop", "input_schema": {"type": "object"}},
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
              ],
              "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
              "thinking": {"type": "enabled", "budget_tokens": 2048},
              "metadata": {"user_id": "user-7", "note": null},
              "stop_sequences": ["\n\nHuman:"],
              "stream": true,
              "temperature": 0.7,
              "top_p": 0.9,
              "top_k": 40,
              "service_tier": "auto",
              "container": null
            }
            """#
        let request = try #require(Self.fast(text))
        #expect(request.model == "claude-sonnet-4-5")
        #expect(request.messages.count == 4)
        #expect(request.tools?.count == 3)
        #expect(request.extra == ["service_tier": "auto", "container": .null])
        #expect(request.metadata == ["user_id": "user-7", "note": .null])
        guard case .blocks(let assistant) = request.messages[1].content else {
            Issue.record("assistant content")
            return
        }
        #expect(assistant.last == .toolUse(
            id: "toolu_01A09q90qw90lq917835lq9", name: "bash",
            input: ["command": "ls -la", "timeout": 30, "flags": [1, -2, .double(0.5), .null, true]]))
        guard case .blocks(let results) = request.messages[2].content else {
            Issue.record("tool results")
            return
        }
        #expect(results[1] == .toolResult(toolUseID: "toolu_2", content: .text("ok"), isError: nil, extra: ["cache_control": ["type": "ephemeral"]]))
        #expect(results[2] == .toolResult(toolUseID: "toolu_3", content: nil, isError: nil))
    }

    /// The smallest request, a string system prompt, and members a type does not read
    /// (stepped over, whatever they hold).
    @Test func readsPlainRequestsAndStepsOverIgnoredMembers() throws {
        let plain = try #require(Self.fast(#"{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#))
        #expect(plain.messages == [AnthropicMessage(role: "user", content: .text("hi"))])
        let system = try #require(Self.fast(#"{"system":"be brief","messages":[],"model":"m"}"#))
        #expect(system.system == .text("be brief"))
        #expect(system.maxTokens == nil)
        // A message's and a tool choice's unknown members, and a redacted block's, are not read.
        let ignored = try #require(Self.fast(#"""
            {"model":"m","messages":[
              {"id":{"\u0061":["a\"b\\",-1.5e+3,{"k":null}],"b":"\ud83d\ude00"},"role":"assistant","content":[
                {"data":"x","type":"redacted_thinking","extra":[1.0]}]}],
             "tool_choice":{"type":"tool","name":"bash","weight":1.0}}
            """#))
        #expect(ignored.messages[0].content == .blocks([.redactedThinking(data: "x")]))
        #expect(ignored.toolChoice == AnthropicToolChoice(type: "tool", name: "bash"))
        // Nulls where the types read them as absent.
        let nulls = try #require(Self.fast(#"""
            {"model":"m","messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"n","input":null}]}],
             "system":null,"max_tokens":null,"stop_sequences":null,"stream":null,"temperature":null,"top_p":null,
             "top_k":null,"tools":null,"tool_choice":null,"metadata":null,"thinking":null}
            """#))
        #expect(nulls.messages[0].content == .blocks([.toolUse(id: "t", name: "n", input: .object([:]))]))
        #expect(nulls.system == nil && nulls.thinking == nil && nulls.tools == nil && nulls.toolChoice == nil)
    }

    /// What the fast decoder leaves to `JSONDecoder`: whatever could read differently,
    /// and every body `JSONDecoder` rejects, so that its errors stay as they are.
    @Test func leavesTheUncertainAndTheInvalidToJSONDecoder() {
        let bodies = [
            // Numbers that are JSONDecoder's to read as integers, or not.
            #"{"model":"m","max_tokens":1.0,"messages":[]}"#,
            #"{"model":"m","top_k":1e2,"messages":[]}"#,
            #"{"model":"m","max_tokens":9223372036854775808,"messages":[]}"#,
            // Escaped keys, where they are read.
            #"{"\u006dodel":"m","messages":[]}"#,
            #"{"model":"m","messages":[],"extra":{"\u0061":1}}"#,
            #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"t","x":{"\u0061":1}}]}]}"#,
            // Invalid requests.
            #"{"messages":[]}"#,
            #"{"model":"m"}"#,
            #"{"model":null,"messages":[]}"#,
            #"{"model":"m","messages":null}"#,
            #"{"model":"m","messages":[{"role":"system","content":"s"}]}"#,
            #"{"model":"m","messages":[{"role":"user"}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":null}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":{"type":"text"}}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":[{"text":"no type"}]}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":5}]}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":[{"type":"tool_use","id":"t"}]}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"data":"x"}}]}]}"#,
            #"{"model":"m","messages":[],"tools":[{"name":"no schema"}]}"#,
            #"{"model":"m","messages":[],"tool_choice":{"type":"tool"}}"#,
            #"{"model":"m","messages":[],"tool_choice":{"type":"sometimes"}}"#,
            #"{"model":"m","messages":[],"stop_sequences":["a",null]}"#,
            #"{"model":"m","messages":[],"temperature":"hot"}"#,
            #"[]"#,
        ]
        for text in bodies {
            let readings = Self.readings(text)
            #expect(readings != nil, "\(text)")
            #expect(readings?.fast == nil, "\(text)")
        }
    }

    /// Through the codec, the fast path and the slow one give the same canonical request,
    /// and errors keep naming the member at fault.
    @Test func theCodecDecodesBothWays() throws {
        let codec = AnthropicInboundCodec()
        let fastBody = #"{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#
        let slowBody = #"{"model":"m","max_tokens":64.0,"messages":[{"role":"user","content":"hi"}]}"#
        #expect(Self.readings(fastBody)?.fast != nil)
        #expect(Self.readings(slowBody)?.fast == nil)
        #expect(try codec.decodeChatRequest(ByteBuffer(string: fastBody)) == codec.decodeChatRequest(ByteBuffer(string: slowBody)))
        do {
            _ = try codec.decodeChatRequest(ByteBuffer(string: #"{"model":"m","max_tokens":8,"messages":[{"role":"system","content":"s"}]}"#))
            Issue.record("a system role was accepted")
        } catch {
            #expect(error.status == 400)
            #expect(error.param == "messages[0].role")
        }
    }
}

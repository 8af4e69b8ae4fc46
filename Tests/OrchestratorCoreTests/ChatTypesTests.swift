import Foundation
import NIOCore
import Testing

@testable import OrchestratorCore

/// Round trips of OpenAI wire formats (shapes from OpenAI's API reference).
struct ChatTypesTests {
    static func fixture(_ name: String) throws -> Data {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"))
        return try Data(contentsOf: url)
    }

    /// Drops `null` object members so "absent" and "null" compare equal.
    static func normalized(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let o):
            return .object(o.compactMapValues { $0 == .null ? nil : normalized($0) })
        case .array(let a):
            return .array(a.map(normalized))
        default:
            return value
        }
    }

    static func roundTrip<T: Codable>(_ type: T.Type, fixture name: String) throws -> (T, JSONValue, JSONValue) {
        let data = try fixture(name)
        let decoded = try JSONDecoder().decode(T.self, from: data)
        let reencoded = try JSONCoding.encode(decoded)
        let original = try JSONDecoder().decode(JSONValue.self, from: data)
        let again = try JSONDecoder().decode(JSONValue.self, from: Data(reencoded.readableBytesView))
        return (decoded, normalized(original), normalized(again))
    }

    @Test(arguments: ["request_basic", "request_vision", "request_tools", "request_everything"])
    func requestFixturesRoundTrip(name: String) throws {
        let (_, original, again) = try Self.roundTrip(ChatRequest.self, fixture: name)
        #expect(original == again)
    }

    @Test func everyFieldIsTyped() throws {
        let (request, _, _) = try Self.roundTrip(ChatRequest.self, fixture: "request_everything")
        #expect(request.model == "gpt-4o-mini")
        #expect(request.stream == true)
        #expect(request.streamOptions?.includeUsage == true)
        #expect(request.temperature == 0.7)
        #expect(request.topP == 0.9)
        #expect(request.maxTokens == 100)
        #expect(request.maxCompletionTokens == 120)
        #expect(request.n == 2)
        #expect(request.stop == .multiple(["\n\n", "END"]))
        #expect(request.seed == 9_007_199_254_740_993)
        #expect(request.user == "user-1234")
        #expect(request.logprobs == true)
        #expect(request.topLogprobs == 3)
        #expect(request.presencePenalty == 0.5)
        #expect(request.frequencyPenalty == -0.5)
        #expect(request.logitBias?["1234567890123456789"] == .int(5))
        #expect(request.reasoningEffort == "low")
        #expect(request.responseFormat?.type == "json_schema")
        #expect(request.responseFormat?.jsonSchema?.name == "colors")
        #expect(request.responseFormat?.jsonSchema?.strict == true)
        #expect(request.messages[1].name == "alice")
        #expect(Set(request.extra.keys) == ["service_tier", "modalities", "prediction", "store", "x_vendor_extension"])
        #expect(request.requiredCapabilities == [.json])
        try request.validate()
    }

    @Test func largeIntegersSurviveByteForByte() throws {
        let (request, _, _) = try Self.roundTrip(ChatRequest.self, fixture: "request_everything")
        let text = String(buffer: try JSONCoding.encode(request))
        #expect(text.contains("9007199254740993"))
        let extra = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"big": 18446744073709551615, "neg": -9223372036854775808}"#.utf8))
        #expect(extra["big"] == .uint(18_446_744_073_709_551_615))
        #expect(extra["neg"] == .int(Int64.min))
    }

    /// Every JSON kind decodes as itself, whatever order the decoder tries them in.
    @Test func everyJSONKindDecodesAsItself() throws {
        let text = #"{"n":null,"t":true,"f":false,"i":-3,"z":0,"u":18446744073709551615,"d":1.5,"e":2e3,"s":"1","es":"","a":[1,"x",[],{}],"o":{"k":{"deep":[null]}}}"#
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        let expected: JSONValue = [
            "n": .null, "t": true, "f": false, "i": -3, "z": 0, "u": .uint(18_446_744_073_709_551_615), "d": 1.5,
            "e": .int(2000), "s": "1", "es": "", "a": [1, "x", [], [:]], "o": ["k": ["deep": [.null]]],
        ]
        #expect(value == expected)
    }

    @Test func toolsAndVisionAreUnderstood() throws {
        let (tools, _, _) = try Self.roundTrip(ChatRequest.self, fixture: "request_tools")
        #expect(tools.tools?.first?.function?.name == "get_current_weather")
        #expect(tools.toolChoice == .function(name: "get_current_weather"))
        #expect(tools.messages[1].toolCalls?.first?.function.arguments == #"{"location": "Boston, MA"}"#)
        #expect(tools.messages[2].toolCallID == "call_abc123")
        #expect(tools.requiredCapabilities == [.tools])

        let (vision, _, _) = try Self.roundTrip(ChatRequest.self, fixture: "request_vision")
        guard case .parts(let parts) = vision.messages[0].content else {
            Issue.record("expected content parts")
            return
        }
        #expect(parts.count == 3)
        #expect(parts[1] == .imageURL(.init(url: "https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-boardwalk.jpg/2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg", detail: "high")))
        if case .other(let type, let fields) = parts[2] {
            #expect(type == "input_audio")
            #expect(fields["input_audio"]?["format"] == "wav")
        } else {
            Issue.record("input_audio part should be kept as is")
        }
        #expect(vision.requiredCapabilities == [.vision])
    }

    @Test func toolChoiceForms() throws {
        for (json, expected) in [
            (#""none""#, ToolChoice.none), (#""auto""#, .auto), (#""required""#, .required),
            (#"{"type":"function","function":{"name":"f"}}"#, .function(name: "f")),
        ] {
            let decoded = try JSONDecoder().decode(ToolChoice.self, from: Data(json.utf8))
            #expect(decoded == expected)
            let back = try JSONDecoder().decode(ToolChoice.self, from: Data(String(buffer: try JSONCoding.encode(decoded)).utf8))
            #expect(back == expected)
        }
        let allowed = #"{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}"#
        let other = try JSONDecoder().decode(ToolChoice.self, from: Data(allowed.utf8))
        guard case .other = other else {
            Issue.record("allowed_tools should round-trip as .other")
            return
        }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ToolChoice.self, from: Data(#""sometimes""#.utf8)) }
    }

    @Test func stopAcceptsStringOrArray() throws {
        let single = try JSONDecoder().decode(StopSequences.self, from: Data(#""END""#.utf8))
        #expect(single == .single("END"))
        #expect(String(buffer: try JSONCoding.encode(single)) == #""END""#)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(StopSequences.self, from: Data("5".utf8)) }
    }

    @Test func responseWithToolCallsAndUsageDetails() throws {
        let (completion, original, again) = try Self.roundTrip(ChatCompletion.self, fixture: "response_tool_calls")
        #expect(original == again)
        #expect(completion.choices[0].finishReason == "tool_calls")
        #expect(completion.choices[0].message.toolCalls?.first?.id == "call_abc123")
        #expect(completion.usage?.cachedTokens == 64)
        #expect(completion.usage?.reasoningTokens == 0)
        #expect(completion.usage?.promptDetailsExtra["audio_tokens"] == .int(0))
        #expect(completion.extra["service_tier"] == "default")
        #expect(completion.systemFingerprint == "fp_44709d6fcb")
    }

    @Test func chunkWithToolCallDelta() throws {
        let (chunk, original, again) = try Self.roundTrip(ChatCompletionChunk.self, fixture: "chunk_tool_call")
        #expect(original == again)
        let call = try #require(chunk.choices.first?.delta.toolCalls?.first)
        #expect(call.index == 0)
        #expect(call.id == "call_DdmO9pD3xa9XTPNJ32zg2hcA")
        #expect(call.function?.name == "get_weather")
        #expect(!chunk.isUsageOnly)
        let usageOnly = try JSONDecoder().decode(
            ChatCompletionChunk.self,
            from: Data(#"{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#.utf8))
        #expect(usageOnly.isUsageOnly)
    }
}

/// Decoding failures become 400s naming the field.
struct RequestValidationTests {
    func decode(_ json: String) throws(GatewayError) -> ChatRequest {
        let request = try JSONCoding.decodeRequest(ChatRequest.self, from: ByteBuffer(string: json))
        try request.validate()
        return request
    }

    func expectError(_ json: String, param: String?, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try decode(json)
            Issue.record("expected a 400 for \(json)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.status == 400, sourceLocation: sourceLocation)
            #expect(error.type == "invalid_request_error", sourceLocation: sourceLocation)
            #expect(error.param == param, "message: \(error.message)", sourceLocation: sourceLocation)
        }
    }

    @Test func malformedAndWrongTypes() {
        expectError("{", param: nil)
        expectError("", param: nil)
        expectError("[]", param: nil)
        expectError(#"{"messages":[{"role":"user","content":"x"}]}"#, param: "model")
        expectError(#"{"model":"m"}"#, param: "messages")
        expectError(#"{"model":5,"messages":[]}"#, param: "model")
        expectError(#"{"model":"m","messages":"hi"}"#, param: "messages")
        expectError(#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#, param: "messages[0].role")
        expectError(#"{"model":"m","messages":[{"content":"x"}]}"#, param: "messages[0].role")
        expectError(#"{"model":"m","messages":[{"role":"user","content":5}]}"#, param: "messages[0].content")
        expectError(#"{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}"#, param: "messages[0].content[0].text")
        expectError(#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#, param: "temperature")
        expectError(#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#, param: "stream")
        expectError(#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1.5}"#, param: "max_tokens")
        expectError(#"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]}"#, param: "tools[0].function")
        expectError(#"{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"yaml"}}"#, param: "response_format.type")
    }

    @Test func outOfRangeValues() {
        let base = #""model":"m","messages":[{"role":"user","content":"x"}]"#
        expectError("{\(base),\"temperature\":3}", param: "temperature")
        expectError("{\(base),\"top_p\":1.5}", param: "top_p")
        expectError("{\(base),\"max_tokens\":0}", param: "max_tokens")
        expectError("{\(base),\"max_tokens\":99999999999}", param: "max_tokens")
        expectError("{\(base),\"max_completion_tokens\":16777217}", param: "max_completion_tokens")
        let tools = Array(repeating: #"{"type":"function","function":{"name":"f"}}"#, count: 1_025).joined(separator: ",")
        expectError("{\(base),\"tools\":[\(tools)]}", param: "tools")
        let messages = Array(repeating: #"{"role":"user","content":"x"}"#, count: 100_001).joined(separator: ",")
        expectError(#"{"model":"m","messages":["# + messages + "]}", param: "messages")
        expectError("{\(base),\"n\":0}", param: "n")
        expectError("{\(base),\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", param: "stop")
        expectError("{\(base),\"presence_penalty\":-3}", param: "presence_penalty")
        expectError("{\(base),\"stream_options\":{\"include_usage\":true}}", param: "stream_options")
        expectError(#"{"model":"","messages":[{"role":"user","content":"x"}]}"#, param: "model")
        expectError(#"{"model":"m","messages":[]}"#, param: "messages")
        expectError(#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#, param: "messages[0].tool_call_id")
        expectError(#"{"model":"m","messages":[{"role":"user"}]}"#, param: "messages[0].content")
    }

    @Test func validRequestPasses() throws {
        let request = try decode(#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":0,"n":1}"#)
        #expect(request.model == "m")
    }
}

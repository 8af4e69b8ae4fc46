import Foundation
import NIOCore
import Testing

@testable import OrchestratorCore

/// The fast path must give exactly what `JSONDecoder` gives, or nothing.
struct ChatRequestFastDecoderTests {
    /// The fast path says where the model's value lies, as written (quotes and escapes
    /// included, the whitespace around it not); the slow path says nothing.
    @Test func theModelValueIsLocatedAsWritten() throws {
        let cases: [(String, String, String)] = [
            (#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#, #""gpt-4o""#, "gpt-4o"),
            ("{ \"messages\": [{\"role\":\"user\",\"content\":\"\\\"model\\\":\\\"x\\\"\"}] ,\n \"model\" :  \"m\" }", #""m""#, "m"),
            (#"{"model":"gpt\u002d4","stream":true,"messages":[{"role":"user","content":"hi"}]}"#, #""gpt\u002d4""#, "gpt-4"),
            ("\u{FEFF}" + #"{"messages":[{"role":"user","content":"hi"}],"model":"b"}"#, #""b""#, "b"),
        ]
        for (json, token, model) in cases {
            let body = ByteBuffer(string: json)
            let (request, range) = try ChatRequest.decodeLocatingModel(from: body)
            let located = try #require(range, "\(json)")
            #expect(String(decoding: body.readableBytesView[located], as: UTF8.self) == token, "\(json)")
            #expect(request.model == model)
            #expect(request == (try ChatRequest.decode(from: body)))
        }
        // Outside the fast shape (an unknown member): decoded, but not located.
        let slow = ByteBuffer(string: #"{"model":"m","messages":[{"role":"user","content":"hi"}],"unknown_option":1}"#)
        let (request, range) = try ChatRequest.decodeLocatingModel(from: slow)
        #expect(range == nil)
        #expect(request.model == "m")
    }

    func fast(_ text: String) -> ChatRequest? {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { ChatRequestFastDecoder.decode(UnsafeRawBufferPointer($0)) }
    }

    func outcome(_ decode: () throws(GatewayError) -> ChatRequest) -> Result<ChatRequest, GatewayError> {
        do { return .success(try decode()) } catch { return .failure(error) }
    }

    /// `ChatRequest.decode` against validation + `JSONDecoder`, success or error.
    func expectSameAsJSONDecoder(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let body = ByteBuffer(string: text)
        let ours = outcome { () throws(GatewayError) in try ChatRequest.decode(from: body) }
        let reference = outcome { () throws(GatewayError) in
            try JSONCoding.validateRequest(body)
            return try JSONCoding.decodeValidatedRequestWithJSONDecoder(ChatRequest.self, from: body)
        }
        #expect(ours == reference, "\(text)", sourceLocation: sourceLocation)
        // Encoded again (for an upstream of another style), as JSONEncoder writes it.
        if case .success(let request) = reference {
            #expect(JSONTreeEncoder.encode(request) != nil, "\(text)", sourceLocation: sourceLocation)
            #expect(
                (try? JSONCoding.encodeString(request)) == (try? JSONCoding.encodeWithJSONEncoder(request)), "\(text)",
                sourceLocation: sourceLocation)
        }
    }

    @Test func takesTheFastPathForCommonBodies() {
        let bodies = [
            #"{"model":"chat","messages":[{"role":"user","content":"hello"}]}"#,
            #"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi","name":"ann"},{"role":"assistant","content":null},{"role":"developer","content":""}],"stream":true,"stream_options":{"include_usage":true},"temperature":0.7,"top_p":1,"max_tokens":256,"max_completion_tokens":null,"n":1,"user":"u-1","seed":-42,"presence_penalty":-0.5,"frequency_penalty":1.5e0,"logprobs":false,"top_logprobs":3,"parallel_tool_calls":true,"reasoning_effort":"low"}"#,
            "{\n  \"model\" : \"m\",\n  \"messages\" : [ { \"role\" : \"user\" , \"content\" : \"line\\nbreak \\\"q\\\" \\u00e9 \\ud83d\\ude00 \\/ \\\\ é😀\" } ]\n}\n",
            "\u{FEFF}{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"bom\"}],\"stream_options\":null,\"stream\":null}",
            #"{"messages":[{"content":"content first","role":"user"}],"model":"m","temperature":2,"max_tokens":16777216}"#,
            #"{"model":"m","messages":[]}"#,
            // An agent's turn: tool definitions with schemas, a tool call and its result.
            #"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"call_1","content":"{\"ok\":true}"}],"tools":[{"type":"function","function":{"name":"get","description":"Gets.","parameters":{"type":"object","properties":{"a":{"type":"integer","minimum":-9223372036854775808,"maximum":18446744073709551615},"b":{"type":["string","null"],"enum":["x",null,true,false,0,-0]}},"required":["a"],"additionalProperties":false},"strict":true}},{"function":{"name":"none","parameters":null,"description":null,"strict":null},"type":"function"}],"tool_choice":{"type":"function","function":{"name":"get"}},"metadata":{"tenant":"acme","n":3,"nested":{"k":[1,"2",null]}},"logit_bias":{"50256":-100}}"#,
            #"{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[]},{"role":"assistant","tool_calls":null,"tool_call_id":null}],"tool_choice":"required","tools":[],"metadata":null,"logit_bias":{}}"#,
            #"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"arguments":"","name":"f"},"id":"c","type":null}]}],"tool_choice":{"type":"function","function":{"name":"f","x":1}}}"#,
            // Content parts, stop sequences and response formats.
            #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"look","cache_control":{"type":"ephemeral"}},{"image_url":"data:image/png;base64,iVBORw0KGgo=","type":"image_url"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"high","z":1}},{"type":"image_url","image_url":{"url":"u","detail":null}},{"type":"input_audio","input_audio":{"data":"AAA=","format":"wav"}}]},{"role":"user","content":[]}],"stop":["\n\n","END"],"response_format":{"type":"json_schema","json_schema":{"name":"answer","description":null,"schema":{"type":"object","properties":{"a":{"type":"string"}}},"strict":true,"extra":1}}}"#,
            #"{"model":"m","messages":[],"stop":"END","response_format":{"type":"json_object","json_schema":{"ignored":[1]},"x":{"y":null}}}"#,
            #"{"model":"m","messages":[],"stop":[],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":null,"strict":null}}}"#,
            #"{"model":"m","messages":[],"stop":null,"response_format":null}"#,
            // Numbers with a fraction in untyped values.
            #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x","w":0.5}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{"maximum":1.5,"minimum":-2.5e-3}}}],"tool_choice":{"type":"function","function":{"name":"f","w":0.5}},"metadata":{"a":0.5}}"#,
        ]
        for body in bodies {
            #expect(fast(body) != nil, "\(body)")
            expectSameAsJSONDecoder(body)
        }
        let decoded = fast(bodies[1])
        #expect(decoded?.messages.count == 4 && decoded?.messages[1].name == "ann" && decoded?.messages[2].content == nil)
        #expect(decoded?.wantsStreamUsage == true && decoded?.seed == -42 && decoded?.frequencyPenalty == 1.5)
        #expect(fast(bodies[2])?.messages[0].content == .text("line\nbreak \"q\" é 😀 / \\ é😀"))
        let agent = fast(bodies[6])
        #expect(agent?.tools?.count == 2 && agent?.tools?[0].function?.parameters?["properties"]?["a"]?["maximum"] == .uint(.max))
        #expect(agent?.tools?[0].function?.parameters?["properties"]?["a"]?["minimum"] == .int(.min))
        #expect(agent?.tools?[1].function?.parameters == nil && agent?.tools?[1].function?.description == nil)
        #expect(agent?.toolChoice == .function(name: "get") && agent?.metadata?["nested"]?["k"] == [1, "2", .null])
        #expect(agent?.messages[1].toolCalls?.first?.function.arguments == #"{"a":1}"# && agent?.messages[2].toolCallID == "call_1")
        #expect(fast(bodies[8])?.messages[0].toolCalls?.first?.type == "function")
        #expect(fast(bodies[8])?.toolChoice.map { if case .other = $0 { true } else { false } } == true)
        let parts = fast(bodies[9])
        #expect(parts?.messages[0].content?.hasImage == true && parts?.stop == .multiple(["\n\n", "END"]))
        #expect(parts?.responseFormat?.jsonSchema?.schema?["properties"]?["a"]?["type"] == "string")
        #expect(fast(bodies[10])?.responseFormat?.extra["x"] == ["y": .null] && fast(bodies[10])?.stop == .single("END"))
        #expect(fast(bodies[13])?.metadata?["a"] == .double(0.5))
        #expect(fast(bodies[13])?.tools?[0].function?.parameters?["minimum"] == .double(-2.5e-3))
    }

    @Test func leavesEverythingElseToJSONDecoder() {
        let bodies = [
            #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":7}]}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":null}]}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"detail":"low"}}]}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"u","detail":1}}]}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":["x"]}]}"#,
            #"{"model":"m","messages":[],"stop":["a",1]}"#,
            #"{"model":"m","messages":[],"stop":7}"#,
            #"{"model":"m","messages":[],"response_format":{"type":"xml"}}"#,
            #"{"model":"m","messages":[],"response_format":{"type":"json_schema"}}"#,
            #"{"model":"m","messages":[],"response_format":{"type":"json_schema","json_schema":{"schema":{}}}}"#,
            #"{"model":"m","messages":[],"response_format":{"type":"json_schema","json_schema":{"name":"n","strict":"yes"}}}"#,
            #"{"model":"m","messages":[],"response_format":"json_object"}"#,
            // Tools and tool calls outside the fast path's shape: other members or types,
            // numbers that are not plain integers, escaped keys, wrong types, nulls where a
            // value is required.
            #"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","x":1}}]}"#,
            #"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f"},"cache_control":{}}]}"#,
            #"{"model":"m","messages":[],"tools":[{"type":"web_search"}]}"#,
            #"{"model":"m","messages":[],"tools":[{"type":"function"}]}"#,
            #"{"model":"m","messages":[],"tools":[{"type":"function","function":null}]}"#,
            #"{"model":"m","messages":[],"tools":[{"type":"function","function":{"description":"d"}}]}"#,
            #"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","parameters":{"maximum":1e3}}}]}"#,
            #"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","parameters":{"m":1.0}}}]}"#,
            #"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","parameters":{"m":-9223372036854775809}}}]}"#,
            #"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","parameters":{"m":18446744073709551616}}}]}"#,
            #"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","parameters":{"\u0061":1}}}]}"#,
            #"{"model":"m","messages":[],"tools":{"type":"function"}}"#,
            #"{"model":"m","messages":[],"tool_choice":"sometimes"}"#,
            #"{"model":"m","messages":[],"tool_choice":["auto"]}"#,
            #"{"model":"m","messages":[],"metadata":["a"]}"#,
            #"{"model":"m","messages":[],"logit_bias":7}"#,
            #"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f"}}]}]}"#,
            #"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":null,"function":{"name":"f","arguments":""}}]}]}"#,
            #"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":{}}}]}]}"#,
            #"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"","x":1}}]}]}"#,
            #"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":1,"function":{"name":"f","arguments":""}}]}]}"#,
            #"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","index":0,"function":{"name":"f","arguments":""}}]}]}"#,
            #"{"model":"m","messages":[{"role":"tool","tool_call_id":5,"content":"x"}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":"x"}],"service_tier":"auto"}"#,
            #"{"mod\u0065l":"m","messages":[{"role":"user","content":"x"}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1.0}"#,
            #"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1e2}"#,
            #"{"model":"m","messages":[{"role":"user","content":"x"}],"seed":92233720368547758070}"#,
            #"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":1e400}"#,
            #"{"model":"m","messages":[{"role":"robot","content":"x"}]}"#,
            #"{"model":null,"messages":[{"role":"user","content":"x"}]}"#,
            #"{"model":"m"}"#,
            #"{"messages":[{"role":"user","content":"x"}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#,
            #"{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true,"x":1}}"#,
            #"{"model":"m","messages":{"role":"user"}}"#,
            // A message without a role, or with one that is not a string; a model that
            // is not a string after messages were read.
            #"{"model":"m","messages":[{"content":"x"}]}"#,
            #"{"model":"m","messages":[{"content":"x","role":7}]}"#,
            #"{"messages":[{"role":"user","content":"x"}],"model":["m"]}"#,
            #"["model"]"#,
        ]
        for body in bodies {
            #expect(fast(body) == nil, "\(body)")
            expectSameAsJSONDecoder(body)
        }
    }

    /// Generated bodies: known and unknown members with values of the right type, the
    /// wrong type, or null; messages with known and unknown roles, text, null or parts.
    @Test func agreesWithJSONDecoderOnGeneratedBodies() {
        var random = SplitMix64(seed: 0xC0DEC)
        func pick<T>(_ options: [T]) -> T { options[Int(random.next() % UInt64(options.count))] }
        let pieces = ["a", "é", "😀", "\\n", "\\\"", "\\u00e9", "\\ud83d\\ude00", " ", "\\/", "\\t", "x", "\\\\"]
        func string() -> String { "\"" + (0..<Int(random.next() % 5)).map { _ in pick(pieces) }.joined() + "\"" }
        let numbers = ["0", "1", "-1", "0.5", "2", "1e1", "-0", "3.25E-1", "128", "9007199254740993", "1.0"]
        func value() -> String { pick([string(), pick(numbers), "true", "false", "null", "[]", "{}", "[1]"]) }
        let members = [
            "model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens", "max_completion_tokens",
            "n", "seed", "user", "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty", "parallel_tool_calls",
            "reasoning_effort", "metadata", "extra_thing", "tools", "tool_choice", "logit_bias", "stop", "response_format",
        ]
        func message() -> String {
            var fields = ["\"role\":" + pick(["\"user\"", "\"system\"", "\"assistant\"", "\"tool\"", "\"robot\"", "null", "1"])]
            if random.next() % 4 != 0 { fields.append("\"content\":" + pick([string(), string(), "null", contentParts(), "3"])) }
            if random.next() % 5 == 0 { fields.append("\"name\":" + pick([string(), "null", "true"])) }
            if random.next() % 8 == 0 { fields.append("\"tool_call_id\":" + pick([string(), "null", "1"])) }
            if random.next() % 5 == 0 { fields.append("\"tool_calls\":" + pick(["null", "[]", "{}", "[" + toolCall() + "," + toolCall() + "]"])) }
            return "{" + fields.shuffled(using: &random).joined(separator: ",") + "}"
        }
        func contentParts() -> String {
            let parts = (0..<Int(random.next() % 3)).map { _ in
                pick([
                    "{\"type\":\"text\",\"text\":" + pick([string(), string(), "null", "1"]) + "}",
                    "{\"text\":" + string() + ",\"type\":\"text\",\"cache_control\":" + untyped() + "}",
                    "{\"type\":\"image_url\",\"image_url\":" + pick([string(), "null", "{\"url\":" + string() + "}",
                        "{\"url\":" + pick([string(), "null"]) + ",\"detail\":" + pick([string(), "null", "2"]) + "}"]) + "}",
                    "{\"type\":" + pick(["\"input_audio\"", "\"file\"", "null", "3"]) + ",\"x\":" + untyped() + "}",
                    "{\"x\":1}", string(),
                ])
            }
            return "[" + parts.joined(separator: ",") + "]"
        }
        // Untyped values: every kind, nested, with numbers of every form.
        func untyped(_ depth: Int = 0) -> String {
            switch random.next() % (depth < 3 ? 7 : 4) {
            case 0: return string()
            case 1: return pick(numbers + ["-9223372036854775808", "9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551616"])
            case 2: return pick(["true", "false", "null"])
            case 3: return pick(["[]", "{}"])
            case 4, 5:
                let keys = ["type", "properties", "a", "é", "enum", "items", "\\u0061b"]
                let members = Set((0..<Int(random.next() % 4)).map { _ in pick(keys) })
                return "{" + members.map { "\"\($0)\":" + untyped(depth + 1) }.joined(separator: ",") + "}"
            default:
                return "[" + (0..<Int(random.next() % 3)).map { _ in untyped(depth + 1) }.joined(separator: ",") + "]"
            }
        }
        func toolCall() -> String {
            var fields = ["\"id\":" + pick([string(), string(), "null"])]
            if random.next() % 2 == 0 { fields.append("\"type\":" + pick(["\"function\"", "null", "\"custom\"", "1"])) }
            var function = ["\"name\":" + pick([string(), string(), "null"]), "\"arguments\":" + pick([string(), string(), "{}"])]
            if random.next() % 6 == 0 { function.removeLast() }
            if random.next() % 8 == 0 { function.append("\"extra\":1") }
            fields.append("\"function\":" + (random.next() % 10 == 0 ? "null" : "{" + function.shuffled(using: &random).joined(separator: ",") + "}"))
            if random.next() % 10 == 0 { fields.append("\"index\":0") }
            return "{" + fields.shuffled(using: &random).joined(separator: ",") + "}"
        }
        func tool() -> String {
            var function = ["\"name\":" + pick([string(), string(), "null"])]
            if random.next() % 2 == 0 { function.append("\"description\":" + pick([string(), "null", "2"])) }
            if random.next() % 2 == 0 { function.append("\"parameters\":" + pick([untyped(), untyped(), "null"])) }
            if random.next() % 3 == 0 { function.append("\"strict\":" + pick(["true", "false", "null", "\"yes\""])) }
            if random.next() % 10 == 0 { function.append("\"x\":1") }
            var fields = ["\"type\":" + pick(["\"function\"", "\"function\"", "\"web_search\"", "null"])]
            if random.next() % 10 != 0 { fields.append("\"function\":" + "{" + function.shuffled(using: &random).joined(separator: ",") + "}") }
            return "{" + fields.shuffled(using: &random).joined(separator: ",") + "}"
        }
        var fastHits = 0
        var agentHits = 0
        for _ in 0..<3000 {
            var fields = ["\"model\":" + (random.next() % 10 == 0 ? value() : string())]
            fields.append("\"messages\":[" + (0..<Int(random.next() % 4)).map { _ in message() }.joined(separator: ",") + "]")
            for member in members.dropFirst(2) where random.next() % 6 == 0 {
                let typed: String
                switch member {
                case "stream", "logprobs", "parallel_tool_calls": typed = pick(["true", "false"])
                case "user", "reasoning_effort": typed = string()
                case "stream_options": typed = pick([#"{"include_usage":true}"#, #"{"include_usage":null}"#, "{}"])
                case "tools": typed = "[" + (0..<Int(random.next() % 3)).map { _ in tool() }.joined(separator: ",") + "]"
                case "tool_choice":
                    typed = pick([
                        #""auto""#, #""none""#, #""required""#, #""any""#, #"{"type":"function","function":{"name":"f"}}"#,
                        #"{"type":"function","function":{"name":"f"},"x":1}"#, untyped(),
                    ])
                case "stop": typed = pick([string(), "[" + string() + "," + string() + "]", "[]", "[1]"])
                case "response_format":
                    let schema = "{\"name\":" + pick([string(), "null"]) + ",\"schema\":" + untyped() + ",\"strict\":" + pick(["true", "null", "1"]) + "}"
                    typed = "{\"type\":" + pick(["\"text\"", "\"json_object\"", "\"json_schema\"", "\"xml\"", "null"])
                        + pick(["", ",\"json_schema\":" + schema, ",\"json_schema\":" + untyped()]) + pick(["", ",\"x\":" + untyped()]) + "}"
                case "metadata", "logit_bias": typed = random.next() % 4 == 0 ? untyped() : "{\"k\":" + untyped() + "}"
                default: typed = pick(numbers)
                }
                fields.append("\"\(member)\":" + (random.next() % 3 == 0 ? value() : typed))
            }
            let body = "{" + fields.shuffled(using: &random).joined(separator: ",") + "}"
            if let request = fast(body) {
                fastHits += 1
                if request.tools?.isEmpty == false || request.toolChoice != nil || request.metadata != nil
                    || request.logitBias != nil || request.stop != nil || request.responseFormat != nil
                    || request.messages.contains(where: {
                        if $0.toolCalls?.isEmpty == false { return true }
                        if case .parts(let parts)? = $0.content { return !parts.isEmpty }
                        return false
                    })
                {
                    agentHits += 1
                }
            }
            expectSameAsJSONDecoder(body)
        }
        #expect(fastHits > 200, "the generator reaches the fast path often enough to test it")
        #expect(agentHits > 50, "and with tools, tool calls or untyped values often enough: \(agentHits)")
    }
}

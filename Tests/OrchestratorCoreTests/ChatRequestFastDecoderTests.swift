import Foundation
import NIOCore
import Testing

@testable import OrchestratorCore

/// The fast path must give exactly what `JSONDecoder` gives, or nothing.
struct ChatRequestFastDecoderTests {
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
        let reference = outcome { () throws(GatewayError) in try JSONCoding.decodeRequest(ChatRequest.self, from: body) }
        #expect(ours == reference, "\(text)", sourceLocation: sourceLocation)
    }

    @Test func takesTheFastPathForCommonBodies() {
        let bodies = [
            #"{"model":"chat","messages":[{"role":"user","content":"hello"}]}"#,
            #"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi","name":"ann"},{"role":"assistant","content":null},{"role":"developer","content":""}],"stream":true,"stream_options":{"include_usage":true},"temperature":0.7,"top_p":1,"max_tokens":256,"max_completion_tokens":null,"n":1,"user":"u-1","seed":-42,"presence_penalty":-0.5,"frequency_penalty":1.5e0,"logprobs":false,"top_logprobs":3,"parallel_tool_calls":true,"reasoning_effort":"low"}"#,
            "{\n  \"model\" : \"m\",\n  \"messages\" : [ { \"role\" : \"user\" , \"content\" : \"line\\nbreak \\\"q\\\" \\u00e9 \\ud83d\\ude00 \\/ \\\\ é😀\" } ]\n}\n",
            "\u{FEFF}{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"bom\"}],\"stream_options\":null,\"stream\":null}",
            #"{"messages":[{"content":"content first","role":"user"}],"model":"m","temperature":2,"max_tokens":16777216}"#,
            #"{"model":"m","messages":[]}"#,
        ]
        for body in bodies {
            #expect(fast(body) != nil, "\(body)")
            expectSameAsJSONDecoder(body)
        }
        let decoded = fast(bodies[1])
        #expect(decoded?.messages.count == 4 && decoded?.messages[1].name == "ann" && decoded?.messages[2].content == nil)
        #expect(decoded?.wantsStreamUsage == true && decoded?.seed == -42 && decoded?.frequencyPenalty == 1.5)
        #expect(fast(bodies[2])?.messages[0].content == .text("line\nbreak \"q\" é 😀 / \\ é😀"))
    }

    @Test func leavesEverythingElseToJSONDecoder() {
        let bodies = [
            #"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":"x"}],"service_tier":"auto"}"#,
            #"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a"]}"#,
            #"{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[]}]}"#,
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
            "reasoning_effort", "metadata", "extra_thing",
        ]
        func message() -> String {
            var fields = ["\"role\":" + pick(["\"user\"", "\"system\"", "\"assistant\"", "\"tool\"", "\"robot\"", "null", "1"])]
            if random.next() % 4 != 0 { fields.append("\"content\":" + pick([string(), string(), "null", #"[{"type":"text","text":"p"}]"#, "3"])) }
            if random.next() % 5 == 0 { fields.append("\"name\":" + pick([string(), "null", "true"])) }
            if random.next() % 8 == 0 { fields.append("\"tool_call_id\":\"c1\"") }
            return "{" + fields.shuffled(using: &random).joined(separator: ",") + "}"
        }
        var fastHits = 0
        for _ in 0..<3000 {
            var fields = ["\"model\":" + (random.next() % 10 == 0 ? value() : string())]
            fields.append("\"messages\":[" + (0..<Int(random.next() % 4)).map { _ in message() }.joined(separator: ",") + "]")
            for member in members.dropFirst(2) where random.next() % 6 == 0 {
                let typed: String
                switch member {
                case "stream", "logprobs", "parallel_tool_calls": typed = pick(["true", "false"])
                case "user", "reasoning_effort": typed = string()
                case "stream_options": typed = pick([#"{"include_usage":true}"#, #"{"include_usage":null}"#, "{}"])
                default: typed = pick(numbers)
                }
                fields.append("\"\(member)\":" + (random.next() % 3 == 0 ? value() : typed))
            }
            let body = "{" + fields.shuffled(using: &random).joined(separator: ",") + "}"
            if fast(body) != nil { fastHits += 1 }
            expectSameAsJSONDecoder(body)
        }
        #expect(fastHits > 200, "the generator reaches the fast path often enough to test it")
    }
}

import Foundation
import NIOCore
import Testing

@testable import OrchestratorCore
@testable import Providers

/// The request bodies `JSONDecoder` used to decode alone now go through
/// `JSONTreeDecoder` first: whenever it gives a value, it must be the one `JSONDecoder`
/// gives. Checked on generated Anthropic and Gemini requests of every shape the wire
/// types read, valid or not.
struct TreeDecodingTests {
    /// The tree decoder's value, if it gave one, against `JSONDecoder`'s outcome.
    static func check<T: Codable & Equatable>(
        _ type: T.Type, _ text: String, sourceLocation: SourceLocation = #_sourceLocation
    ) -> Bool {
        let body = ByteBuffer(string: text)
        let reference: T?
        do throws(GatewayError) {
            try JSONCoding.validateRequest(body)
            reference = try JSONCoding.decodeValidatedRequestWithJSONDecoder(T.self, from: body)
        } catch {
            reference = nil
        }
        // Encoded again (for an upstream of this style), as JSONEncoder writes it.
        if let reference {
            #expect(JSONTreeEncoder.encode(reference) != nil, "\(text)", sourceLocation: sourceLocation)
            #expect(
                (try? JSONCoding.encodeString(reference)) == (try? JSONCoding.encodeWithJSONEncoder(reference)), "\(text)",
                sourceLocation: sourceLocation)
        }
        guard let tree = body.withUnsafeReadableBytes({ JSONTreeDecoder.decode(T.self, from: $0) }) else { return false }
        #expect(tree == reference, "\(text)", sourceLocation: sourceLocation)
        return true
    }

    struct Generator {
        var random = SplitMix64(seed: 0x7EE)
        /// Whether members may be left out or of the wrong kind (half of the bodies);
        /// the others are well-formed requests, to reach the tree decoder's results.
        var sloppy = true

        mutating func pick<T>(_ options: [T]) -> T { options[Int(random.next() % UInt64(options.count))] }
        mutating func chance(_ oneIn: UInt64) -> Bool { random.next() % oneIn == 0 }

        mutating func string() -> String {
            "\"" + (0..<Int(random.next() % 4)).map { _ in pick(["a", "é", "\\n", "\\\"", "\\u00e9", " ", "x"]) }.joined() + "\""
        }

        mutating func number() -> String {
            guard sloppy else { return pick(["0", "1", "7", "0.5", "9223372036854775807"]) }
            return pick(["0", "1", "-1", "7", "0.5", "-2.25", "1.0", "1e2", "9223372036854775807", "18446744073709551615"])
        }

        mutating func untyped(_ depth: Int = 0) -> String {
            switch random.next() % (depth < 3 ? 6 : 4) {
            case 0: return string()
            case 1: return number()
            case 2: return pick(["true", "false", "null"])
            case 3: return pick(["[]", "{}"])
            case 4:
                let keys = Set((0..<Int(random.next() % 4)).map { _ in pick(["type", "properties", "a", "é", "items", "\\u0062"]) })
                var members: [String] = []
                for key in keys { members.append("\"\(key)\":" + untyped(depth + 1)) }
                return "{" + members.joined(separator: ",") + "}"
            default:
                var elements: [String] = []
                for _ in 0..<Int(random.next() % 3) { elements.append(untyped(depth + 1)) }
                return "[" + elements.joined(separator: ",") + "]"
            }
        }

        /// Members of an object, some left out, some of the wrong kind, in any order.
        mutating func object(_ members: [(String, String)], wrong: UInt64 = 12) -> String {
            var fields: [String] = []
            for (key, value) in members where !(sloppy && chance(6)) {
                fields.append("\"\(key)\":" + (sloppy && chance(wrong) ? untyped() : value))
            }
            if chance(8) { fields.append("\"extra_\(random.next() % 3)\":" + untyped()) }
            return "{" + fields.shuffled(using: &random).joined(separator: ",") + "}"
        }
    }

    /// A generated Anthropic Messages request: well-formed when `g.sloppy` is false,
    /// else with members left out or of the wrong kind, in any order.
    static func anthropicBody(_ g: inout Generator) -> String {
        func source(_ g: inout Generator) -> String {
            g.object([
                ("type", g.pick(["\"base64\"", "\"url\"", "\"text\""])), ("media_type", "\"image/png\""), ("data", g.string()),
                ("url", g.string()),
            ])
        }
        func block(_ g: inout Generator, depth: Int = 0) -> String {
            switch g.random.next() % 7 {
            case 0: return g.object([("type", "\"text\""), ("text", g.string()), ("cache_control", #"{"type":"ephemeral"}"#)])
            case 1: return g.object([("type", "\"image\""), ("source", source(&g))])
            case 2: return g.object([("type", "\"tool_use\""), ("id", g.string()), ("name", g.string()), ("input", g.untyped())])
            case 3:
                let content = depth > 0 ? g.string() : g.pick([g.string(), "[" + block(&g, depth: 1) + "]", "null"])
                return g.object([("type", "\"tool_result\""), ("tool_use_id", g.string()), ("content", content), ("is_error", "true")])
            case 4: return g.object([("type", "\"thinking\""), ("thinking", g.string()), ("signature", g.string())])
            case 5: return g.object([("type", g.pick(["\"redacted_thinking\"", "\"document\"", "\"server_tool_use\""])), ("data", g.string())])
            default: return g.string()
            }
        }
        func content(_ g: inout Generator) -> String {
            g.pick([g.string(), "[" + (0..<Int(g.random.next() % 3)).map { _ in block(&g) }.joined(separator: ",") + "]"])
        }
        let messages = (0..<Int(g.random.next() % 4)).map { _ in
            g.object([("role", g.pick(["\"user\"", "\"assistant\"", "\"system\""])), ("content", content(&g))])
        }
        let tools = (0..<Int(g.random.next() % 3)).map { _ in
            g.object([
                ("name", g.string()), ("description", g.string()), ("input_schema", g.untyped()),
                ("type", g.pick(["\"custom\"", "\"bash_20250124\""])), ("cache_control", #"{"type":"ephemeral"}"#),
            ])
        }
        let body = g.object([
            ("model", g.string()), ("max_tokens", g.pick(["1024", "1", "0.5"])), ("system", content(&g)),
            ("messages", "[" + messages.joined(separator: ",") + "]"), ("stop_sequences", "[" + g.string() + "]"),
            ("stream", g.pick(["true", "false"])), ("temperature", g.number()), ("top_p", g.number()), ("top_k", g.number()),
            ("tools", "[" + tools.joined(separator: ",") + "]"),
            ("tool_choice", g.object([("type", g.pick(["\"auto\"", "\"any\"", "\"tool\"", "\"none\""])), ("name", g.string())])),
            ("metadata", g.object([("user_id", g.string())])), ("thinking", g.untyped()),
        ])
        return body
    }

    @Test func anthropicRequestsDecodeAsJSONDecoderDecodesThem() {
        var g = Generator()
        var decoded = 0
        for _ in 0..<2500 {
            g.sloppy = g.chance(2)
            if Self.check(AnthropicRequest.self, Self.anthropicBody(&g)) { decoded += 1 }
        }
        #expect(decoded > 300, "the tree decoder read \(decoded) of the generated requests")
    }

    @Test func geminiRequestsDecodeAsJSONDecoderDecodesThem() {
        var g = Generator()
        func part(_ g: inout Generator) -> String {
            switch g.random.next() % 5 {
            case 0: return g.object([("text", g.string()), ("thought", "true")])
            case 1: return g.object([("inlineData", g.object([("mimeType", "\"image/png\""), ("data", g.string())]))])
            case 2: return g.object([("functionCall", g.object([("name", g.string()), ("args", g.untyped()), ("id", g.string())]))])
            case 3: return g.object([("functionResponse", g.object([("name", g.string()), ("response", g.untyped())]))])
            default: return g.untyped()
            }
        }
        func content(_ g: inout Generator) -> String {
            g.object([
                ("role", g.pick(["\"user\"", "\"model\""])),
                ("parts", "[" + (0..<Int(g.random.next() % 3)).map { _ in part(&g) }.joined(separator: ",") + "]"),
            ])
        }
        var decoded = 0
        for _ in 0..<2500 {
            g.sloppy = g.chance(2)
            let declarations = (0..<Int(g.random.next() % 3)).map { _ in
                g.object([("name", g.string()), ("description", g.string()), ("parameters", g.untyped())])
            }
            let body = g.object([
                ("contents", "[" + (0..<Int(g.random.next() % 3)).map { _ in content(&g) }.joined(separator: ",") + "]"),
                (g.pick(["systemInstruction", "system_instruction"]), content(&g)),
                ("tools", "[" + g.object([("functionDeclarations", "[" + declarations.joined(separator: ",") + "]")]) + "]"),
                (g.pick(["toolConfig", "tool_config"]), g.object([("functionCallingConfig", g.object([("mode", "\"AUTO\"")]))])),
                (g.pick(["generationConfig", "generation_config"]), g.object([
                    ("temperature", g.number()), ("maxOutputTokens", g.number()), ("topP", g.number()), ("topK", g.number()),
                    ("stopSequences", "[" + g.string() + "]"), ("responseMimeType", g.string()), ("responseSchema", g.untyped()),
                ])),
                ("safetySettings", g.untyped()), ("cachedContent", g.string()),
            ])
            if Self.check(GeminiRequest.self, body) { decoded += 1 }
        }
        #expect(decoded > 300, "the tree decoder read \(decoded) of the generated requests")
    }

    /// What the tree decoder leaves to `JSONDecoder`: numbers whose reading as an integer
    /// is `JSONDecoder`'s to decide, escaped keys, and the types it reads its own way.
    @Test func leavesTheUncertainToJSONDecoder() {
        func tree<T: Decodable>(_ type: T.Type, _ text: String) -> T? {
            ByteBuffer(string: text).withUnsafeReadableBytes { JSONTreeDecoder.decode(T.self, from: $0) }
        }
        #expect(tree(JSONValue.self, #"{"a":1.0}"#) == nil)
        #expect(tree(JSONValue.self, #"{"a":1e2}"#) == nil)
        #expect(tree(JSONValue.self, #"{"a":18446744073709551616}"#) == nil)
        #expect(tree(JSONValue.self, #"{"\u0061":1}"#) == nil)
        #expect(tree(JSONValue.self, #"{"a":[1,-2,0.5,18446744073709551615,"s",null,true]}"#) == ["a": [1, -2, .double(0.5), .uint(.max), "s", .null, true]])
        struct Stamped: Decodable, Equatable { var at: Date }
        struct Blob: Decodable, Equatable { var data: Data }
        struct Ratio: Decodable, Equatable { var value: Float }
        #expect(tree(Stamped.self, #"{"at":1}"#) == nil)
        #expect(tree(Blob.self, #"{"data":"AAE="}"#) == nil)
        #expect(tree(Ratio.self, #"{"value":1}"#) == nil)
        // Swallowed by a `try?` on the way, the types it does not read still stop it.
        struct Lenient: Decodable, Equatable {
            var ratio: Float?
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: AnyCodingKey.self)
                ratio = try? c.decode(Float.self, forKey: AnyCodingKey("ratio"))
            }
        }
        #expect(tree(Lenient.self, #"{"ratio":1}"#) == nil)
        // A missing key is an ordinary failure, the same in both.
        #expect(tree(Lenient.self, #"{"other":1}"#) != nil)
    }
}

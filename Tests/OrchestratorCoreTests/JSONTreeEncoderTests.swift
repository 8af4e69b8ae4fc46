import Foundation
import Testing

@testable import OrchestratorCore

/// `JSONTreeEncoder` runs types' own `encode(to:)` into a tree that `JSONCoding` writes
/// out; whatever it gives must write as `JSONEncoder` writes the value, and what it
/// cannot match it must leave to `JSONEncoder`.
struct JSONTreeEncoderTests {
    static func expectSameAsJSONEncoder<T: Encodable>(
        _ value: T, tree expectTree: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let ours = Result { try JSONCoding.encodeString(value) }
        let reference = Result { try JSONCoding.encodeWithJSONEncoder(value) }
        switch (ours, reference) {
        case (.success(let ours), .success(let reference)):
            #expect(ours == reference, sourceLocation: sourceLocation)
        case (.failure, .failure):
            break
        default:
            Issue.record("\(ours) against JSONEncoder's \(reference)", sourceLocation: sourceLocation)
        }
        #expect((JSONTreeEncoder.encode(value) != nil) == expectTree, sourceLocation: sourceLocation)
    }

    /// Every kind of container and value a hand-written `encode(to:)` can use.
    struct EveryContainer: Encodable {
        enum Keys: String, CodingKey { case scalars, nested, list, absent, null, optional, later, sup, int8, uint8, big }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            var scalars = c.nestedContainer(keyedBy: AnyCodingKey.self, forKey: .scalars)
            try scalars.encode(true, forKey: AnyCodingKey("b"))
            try scalars.encode(-7, forKey: AnyCodingKey("i"))
            try scalars.encode(UInt64.max, forKey: AnyCodingKey("u"))
            try scalars.encode(0.25, forKey: AnyCodingKey("d"))
            try scalars.encode("s/\"", forKey: AnyCodingKey("s"))
            try scalars.encodeNil(forKey: AnyCodingKey("n"))
            var list = c.nestedUnkeyedContainer(forKey: .list)
            try list.encode(1)
            try list.encode("two")
            var inner = list.nestedContainer(keyedBy: AnyCodingKey.self)
            var deeper = list.nestedUnkeyedContainer()
            try list.encode(Int16(-3))
            try inner.encode("filled after its place was taken", forKey: AnyCodingKey("late"))
            try deeper.encode(false)
            try deeper.encodeNil()
            let listSuper = list.superEncoder()
            var listSuperValue = listSuper.singleValueContainer()
            try listSuperValue.encode(UInt32(9))
            try c.encodeIfPresent(nil as String?, forKey: .absent)
            try c.encode(nil as String?, forKey: .null)
            try c.encode(Optional("x"), forKey: .optional)
            try c.encode(Int8(-8), forKey: .int8)
            try c.encode(UInt8(8), forKey: .uint8)
            try c.encode(["k": [1.5, 2]], forKey: .big)
            var later = c.nestedContainer(keyedBy: AnyCodingKey.self, forKey: .later)
            let sup = c.superEncoder(forKey: .sup)
            try later.encode([JSONValue.int(1), ["z": "é"]], forKey: AnyCodingKey("values"))
            var supContainer = sup.container(keyedBy: AnyCodingKey.self)
            try supContainer.encode("in super", forKey: AnyCodingKey("v"))
            let plainSuper = c.superEncoder()
            var plain = plainSuper.unkeyedContainer()
            try plain.encode(1)
        }
    }

    @Test func everyContainerWritesAsJSONEncoderWrites() {
        Self.expectSameAsJSONEncoder(EveryContainer())
        Self.expectSameAsJSONEncoder([EveryContainer(), EveryContainer()])
        Self.expectSameAsJSONEncoder(["a": EveryContainer()])
    }

    /// A key set twice keeps its last value, as in JSONEncoder.
    struct Overwrites: Encodable {
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: AnyCodingKey.self)
            try c.encode(1, forKey: AnyCodingKey("a"))
            try c.encode(2, forKey: AnyCodingKey("a"))
            try c.encode("first", forKey: AnyCodingKey("b"))
            try c.encode(["second"], forKey: AnyCodingKey("b"))
            // (A nested container over a key already set is a trap in JSONEncoder.)
            // The same keyed container asked for twice: one object.
            var second = encoder.container(keyedBy: AnyCodingKey.self)
            try second.encode(5, forKey: AnyCodingKey("d"))
        }
    }

    @Test func laterValuesWinAsInJSONEncoder() {
        Self.expectSameAsJSONEncoder(Overwrites())
    }

    /// What JSONEncoder formats its own way, and what it refuses, is left to it.
    @Test func leavesWhatItCannotMatchToJSONEncoder() {
        struct Stamped: Encodable { var at = Date(timeIntervalSince1970: 1_700_000_000.5) }
        struct Blob: Encodable { var data = Data([0, 1, 2]) }
        struct Link: Encodable { var url = URL(string: "https://example.com/a?b=c")! }
        struct Ratio: Encodable { var value: Float = 0.1 }
        struct Amount: Encodable { var value = Decimal(string: "12.50")! }
        struct NotFinite: Encodable { var value = Double.infinity }
        struct Nothing: Encodable { func encode(to encoder: any Encoder) throws {} }
        struct HoldsNothing: Encodable { var inner = Nothing() }
        Self.expectSameAsJSONEncoder(Stamped(), tree: false)
        Self.expectSameAsJSONEncoder(Blob(), tree: false)
        Self.expectSameAsJSONEncoder(Link(), tree: false)
        Self.expectSameAsJSONEncoder(Ratio(), tree: false)
        Self.expectSameAsJSONEncoder(Amount(), tree: false)
        Self.expectSameAsJSONEncoder(["deep": [Stamped()]], tree: false)
        Self.expectSameAsJSONEncoder(NotFinite(), tree: false)
        Self.expectSameAsJSONEncoder([Double.nan], tree: false)
        Self.expectSameAsJSONEncoder(Nothing(), tree: false)
        Self.expectSameAsJSONEncoder(HoldsNothing(), tree: false)
    }

    /// The gateway's own types: a completion, a chunk, embeddings.
    @Test func theGatewaysTypesWriteAsJSONEncoderWrites() throws {
        let completion = ChatCompletion(
            id: "chatcmpl-1", created: 1_700_000_000, model: "gpt-4o-mini",
            choices: [
                .init(
                    index: 0,
                    message: ChatMessage(
                        role: .assistant, content: .text("Hello/\"world\"\n"),
                        toolCalls: [ToolCall(id: "call_1", function: FunctionCall(name: "f", arguments: #"{"a":1}"#))]),
                    finishReason: "tool_calls")
            ],
            usage: Usage(promptTokens: 10, completionTokens: 5, cachedTokens: 2))
        Self.expectSameAsJSONEncoder(completion)
        var request = ChatRequest(model: "m", messages: [ChatMessage(role: .user, content: .text("hi"))])
        request.temperature = 0.7
        request.topP = 1
        request.seed = -42
        request.extra = ["z_extra": [1, .double(2.5), "x"], "a_extra": .null]
        Self.expectSameAsJSONEncoder(request)
    }
}

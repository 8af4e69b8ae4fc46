import Foundation
import NIOCore
import Testing

@testable import OrchestratorCore

/// `JSONCoding` writes JSON itself (`JSONTreeEncoder`, then its own writer); it must
/// write exactly what `JSONEncoder` (compact, sorted keys, slashes as they are) writes.
struct JSONValueWritingTests {
    static func reference(_ value: some Encodable) throws -> String { try JSONCoding.encodeWithJSONEncoder(value) }

    struct Generator {
        var random = SplitMix64(seed: 0x3A7E)
        mutating func pick<T>(_ options: [T]) -> T { options[Int(random.next() % UInt64(options.count))] }

        mutating func text() -> String {
            (0..<Int(random.next() % 5)).map { _ in
                pick(["a", "Z", "_", "9", "10", "/", "\"", "\\", "\n", "\t", "\r", "\u{8}", "\u{C}", "\u{1}", "\u{1F}", "\u{7F}",
                      "\u{0}", "é", "e\u{301}", "\u{2028}", "😀", "ß", " "])
            }.joined()
        }

        mutating func value(doubles: Bool, depth: Int = 0) -> JSONValue {
            switch random.next() % (depth < 3 ? 8 : 6) {
            case 0: return .null
            case 1: return .bool(random.next() % 2 == 0)
            case 2: return .int(pick([0, 1, -1, 42, Int64.min, Int64.max, -9_007_199_254_740_993]))
            case 3: return .uint(pick([UInt64(Int64.max) + 1, UInt64.max]))
            case 4: return doubles ? .double(pick([0.5, -2.25, 1e-7, 1e21, 12345.678, 0.1])) : .string(text())
            case 5: return .string(text())
            case 6: return .array((0..<Int(random.next() % 4)).map { _ in value(doubles: doubles, depth: depth + 1) })
            default:
                var members: [String: JSONValue] = [:]
                for _ in 0..<Int(random.next() % 5) { members[text()] = value(doubles: doubles, depth: depth + 1) }
                return .object(members)
            }
        }
    }

    @Test func writesWhatJSONEncoderWrites() throws {
        var g = Generator()
        for round in 0..<3000 {
            let value = g.value(doubles: round % 3 == 0)
            #expect(try JSONCoding.encodeString(value) == Self.reference(value), "\(value)")
        }
    }

    @Test func writesNumbersAndKeysAsJSONEncoderDoes() throws {
        var out: [UInt8] = []
        let value: JSONValue = ["b": [1, .uint(.max), "x/y\n\u{1}", .null, true], "B": [:], "a10": "é", "a9": []]
        #expect(JSONCoding.appendSortedCompact(value, to: &out))
        #expect(String(decoding: out, as: UTF8.self) == #"{"B":{},"a10":"é","a9":[],"b":[1,18446744073709551615,"x/y\n\u0001",null,true]}"#)
        // Keys in UTF-8 byte order, as JSONEncoder sorts them: a decomposed `é` (`e` and
        // U+0301) before `ß`, a precomposed one after it.
        #expect(try JSONCoding.encodeString(["ß": 1, "e\u{301}": 2] as JSONValue) == "{\"e\u{301}\":2,\"ß\":1}")
        #expect(try JSONCoding.encodeString(["ß": 1, "\u{E9}": 2] as JSONValue) == "{\"ß\":1,\"\u{E9}\":2}")
        // Doubles in JSONEncoder's own format.
        let numbers: [Double] = [
            0, -0.0, 1, -1, 0.5, 0.1, 0.7, 100, 1e15, 1e16, 1e17, 9_007_199_254_740_991, 9_007_199_254_740_992, 1e21, 1e-7,
            1e-5, 12345.678, 1.7976931348623157e308, .leastNonzeroMagnitude, -2.25e-300, 123_456_789_012_345_680,
        ]
        for number in numbers {
            #expect(try JSONCoding.encodeString(JSONValue.double(number)) == Self.reference(JSONValue.double(number)), "\(number)")
        }
        var random = SplitMix64(seed: 0xD0)
        for _ in 0..<20_000 {
            let number = Double(bitPattern: random.next())
            guard number.isFinite else { continue }
            let scaled = Double(Int64(bitPattern: random.next()) % 1_000_000) / 1000
            let pair: JSONValue = [.double(number), .double(scaled)]
            #expect(try JSONCoding.encodeString(pair) == Self.reference(pair))
        }
        // JSONEncoder refuses what is not finite; so does the writer, and the error is JSONEncoder's.
        out = []
        #expect(!JSONCoding.appendSortedCompact(["a": [.double(.infinity)]], to: &out))
        #expect(throws: EncodingError.self) { try JSONCoding.encodeString(JSONValue.double(.nan)) }
    }

    /// Objects read by `JSONFastReader` are built at their size; every member lands, and
    /// keys that are one string in two spellings are left to the slow path.
    @Test func readsObjectsOfEverySize() {
        func read(_ text: String) -> JSONValue? {
            var bytes = Array(text.utf8)
            return bytes.withUnsafeMutableBytes { JSONFastReader.document(UnsafeRawBufferPointer($0)) }
        }
        for size in [0, 1, 2, 3, 6, 7, 13, 40] {
            let members = (0..<size).map { #""k\#($0)":{"v":[\#($0),{"n":"\#($0)"}]}"# }.joined(separator: ",")
            var expected: [String: JSONValue] = [:]
            for i in 0..<size { expected["k\(i)"] = ["v": [.int(Int64(i)), ["n": .string("\(i)")]]] }
            #expect(read("{\(members)}") == .object(expected))
        }
        #expect(read(#"{"a":{"b":{"c":{}}},"d":[{"e":1},{"f":2}]}"#) == ["a": ["b": ["c": [:]]], "d": [["e": 1], ["f": 2]]])
        // A member that cannot be read leaves the whole value to the slow path.
        #expect(read(#"{"a":{"b":1,"c":1.0},"d":2}"#) == nil)
        #expect(read(#"[{"a":1},{"b":1e2}]"#) == nil)
        #expect(read("{\"\u{E9}\":1,\"e\u{301}\":2}") == nil)
    }
}

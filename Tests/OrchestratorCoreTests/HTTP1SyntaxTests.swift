import OrchestratorCore
import Testing

/// The byte classes the HTTP/1 readers check heads with, against their definitions
/// applied one byte at a time.
struct HTTP1SyntaxTests {
    /// RFC 9110 `tchar`, spelled out.
    private static func isTchar(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return HTTP1Syntax.tokenSymbols.utf8.contains(byte)
        }
    }

    @Test func tokenBytesAreTheRFCsTchars() {
        #expect(HTTP1Syntax.tokenSymbols == "!#$%&'*+-.^_`|~")
        for byte in UInt8.min...UInt8.max {
            #expect(HTTP1Syntax.isTokenByte(byte) == Self.isTchar(byte), "byte \(byte)")
        }
        #expect(Self.isToken("Content-Type"))
        #expect(Self.isToken("x-custom_thing.v2~!#$%&'*+^`|"))
        #expect(Self.isToken(""))
        for bad in ["Content Type", "a:b", "a\"b", "a(b", "a,b", "a/b", "a@b", "a{b", "a\u{7F}b", "caf\u{E9}", "a\tb"] {
            #expect(!Self.isToken(bad), "\(bad)")
        }
    }

    private static func isToken(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { HTTP1Syntax.isToken($0) }
    }

    /// What `checkFieldValue` must say, byte by byte.
    private static func reference(_ bytes: [UInt8]) -> Bool? {
        if bytes.contains(where: { $0 == 0x0D || $0 == 0 }) { return nil }
        return bytes.allSatisfy { $0 < 0x80 }
    }

    private static func check(_ bytes: [UInt8]) -> Bool? {
        bytes.withUnsafeBytes { HTTP1Syntax.checkFieldValue($0) }
    }

    /// Each special byte at every position of values of 0 to 40 bytes: in a word's
    /// every lane, in the tail after the last whole word, and next to a zero byte or a
    /// high one in the same word (where a borrow could hide or fake a match).
    @Test func fieldValuesAreCheckedAtEveryPosition() {
        let specials: [UInt8] = [0x00, 0x0D, 0x0A, 0x01, 0x0C, 0x0E, 0x7F, 0x80, 0x8D, 0xFF, 0x09, 0x20]
        let neighbours: [UInt8] = [0x00, 0x0D, 0x80, 0xFF, 0x01]
        var checked = 0
        var wrong: [[UInt8]] = []
        func compare(_ bytes: [UInt8]) {
            checked += 1
            if Self.check(bytes) != Self.reference(bytes) { wrong.append(bytes) }
        }
        for length in 0...40 {
            let plain = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
            compare(plain)
            for position in 0..<length {
                for special in specials {
                    var bytes = plain
                    bytes[position] = special
                    compare(bytes)
                    for neighbour in neighbours {
                        for other in [position - 1, position + 1] where other >= 0 && other < length {
                            var pair = bytes
                            pair[other] = neighbour
                            compare(pair)
                        }
                    }
                }
            }
        }
        #expect(checked > 90_000)
        #expect(wrong.count == 0, "first: \(wrong.prefix(5))")
        #expect(Self.check(Array("Bearer sk-bench-client".utf8)) == true)
        #expect(Self.check(Array("caf\u{E9} au lait, s'il vous pla\u{EE}t".utf8)) == false)
        #expect(Self.check(Array("application/json\r".utf8)) == nil)
        #expect(Self.check([]) == true)
    }

    /// Every byte value next to every other in one word, and alone in the tail.
    @Test func fieldValuesOfEveryBytePair() {
        var wrong: [[UInt8]] = []
        for first in UInt8.min...UInt8.max {
            for second in UInt8.min...UInt8.max {
                let word: [UInt8] = [0x61, 0x62, first, second, 0x63, 0x64, 0x65, 0x66]
                if Self.check(word) != Self.reference(word) { wrong.append(word) }
                let tail = word + [first]
                if Self.check(tail) != Self.reference(tail) { wrong.append(tail) }
            }
        }
        #expect(wrong.count == 0, "first: \(wrong.prefix(5))")
    }
}

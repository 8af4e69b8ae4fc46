/// One JSON string escape (`\n`, `\u00e9`, a `\ud83d\ude00` surrogate pair), read from its
/// backslash: shared by ``JSONValidator``, which reports what is wrong with one, and
/// ``ChatRequestFastDecoder``, which decodes escapes the validator has accepted.
enum JSONEscape {
    enum Outcome: Equatable {
        /// The escaped scalar (U+0000 included: refusing it is the caller's decision).
        case scalar(Unicode.Scalar)
        /// Not an escape JSON defines, or a `\u` without four hex digits.
        case invalid(reason: String)
        /// A `\uD800`–`\uDFFF` escape without its pair.
        case unpairedSurrogate
    }

    /// Reads the escape whose backslash is at `start`; returns what it means and the
    /// index just after it.
    static func read(_ bytes: UnsafeRawBufferPointer, at start: Int) -> (outcome: Outcome, end: Int) {
        guard start + 1 < bytes.count else { return (.invalid(reason: "unterminated string"), bytes.count) }
        let letter = bytes[start + 1]
        let simple: UInt8
        switch letter {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): simple = letter
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "f"): simple = 0x0C
        case UInt8(ascii: "n"): simple = 0x0A
        case UInt8(ascii: "r"): simple = 0x0D
        case UInt8(ascii: "t"): simple = 0x09
        case UInt8(ascii: "u"):
            return unicode(bytes, at: start)
        default:
            return (.invalid(reason: "invalid escape '\\\(Character(Unicode.Scalar(letter)))'"), start + 2)
        }
        return (.scalar(Unicode.Scalar(simple)), start + 2)
    }

    /// `\uXXXX`, and the low half after a high surrogate.
    private static func unicode(_ bytes: UnsafeRawBufferPointer, at start: Int) -> (outcome: Outcome, end: Int) {
        guard start + 6 <= bytes.count else { return (.invalid(reason: "incomplete \\u escape"), bytes.count) }
        guard let unit = hex4(bytes, at: start + 2) else { return (.invalid(reason: "invalid \\u escape"), start + 6) }
        switch unit {
        case 0xD800...0xDBFF:
            // A high surrogate must be followed at once by an escaped low one.
            let low = start + 6
            guard low + 6 <= bytes.count, bytes[low] == UInt8(ascii: "\\"), bytes[low + 1] == UInt8(ascii: "u") else {
                return (.unpairedSurrogate, low)
            }
            guard let second = hex4(bytes, at: low + 2) else { return (.invalid(reason: "invalid \\u escape"), low + 6) }
            guard (0xDC00...0xDFFF).contains(second) else { return (.unpairedSurrogate, low + 6) }
            let scalar = 0x10000 + ((unit - 0xD800) << 10) + (second - 0xDC00)
            return (.scalar(Unicode.Scalar(scalar)!), low + 6)
        case 0xDC00...0xDFFF:
            return (.unpairedSurrogate, start + 6)
        default:
            return (.scalar(Unicode.Scalar(unit)!), start + 6)
        }
    }

    /// Four hex digits at `index`, if that is what is there.
    private static func hex4(_ bytes: UnsafeRawBufferPointer, at index: Int) -> UInt32? {
        var value: UInt32 = 0
        for byte in bytes[index..<(index + 4)] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }
}

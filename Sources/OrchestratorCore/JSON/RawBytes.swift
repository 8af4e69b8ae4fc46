/// Comparisons of raw bytes (a JSON key, an SSE field, an event's data) with ASCII
/// literals, for the paths that read bytes in place instead of building strings.
public enum RawBytes {
    /// Whether `bytes` are exactly `text`.
    @inlinable
    public static func equal(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        bytes.count == text.utf8CodeUnitCount && hasPrefix(bytes, text)
    }

    /// Whether `bytes` start with `text`.
    @inlinable
    public static func hasPrefix(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard bytes.count >= count else { return false }
        guard count > 0, let base = bytes.baseAddress else { return true }
        return equal(base, UnsafeRawPointer(text.utf8Start), count: count)
    }

    /// Whether the `count` bytes at `a` and `b` are the same, compared a word at a time:
    /// keys and field names are compared with known names on every chunk, and a loop
    /// over bytes cost about eight instructions per byte.
    @inlinable
    public static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Bool {
        if count >= 8 {
            var i = 0
            while i + 8 < count {
                if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                    return false
                }
                i += 8
            }
            // The last word, overlapping the one before when `count` is not a multiple of 8.
            return a.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
                == b.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        }
        if count >= 4 {
            return a.loadUnaligned(as: UInt32.self) == b.loadUnaligned(as: UInt32.self)
                && a.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
                    == b.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
        }
        for i in 0..<count where a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) {
            return false
        }
        return true
    }

    /// Whether `text` occurs anywhere in `bytes`, ASCII letters in either case (`text`
    /// is written in lower case; its other bytes match exactly).
    public static func containsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard bytes.count >= count else { return false }
        for start in 0...(bytes.count - count) where matchesIgnoringCase(bytes, at: start, text) {
            return true
        }
        return false
    }

    /// Whether `string` begins with `text`, ASCII letters in either case (`text` is
    /// written in lower case; its other bytes match exactly), without building a
    /// lower-cased copy of `string`.
    public static func hasPrefixIgnoringCase(_ string: String, _ text: StaticString) -> Bool {
        var string = string
        return string.withUTF8 { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            return bytes.count >= text.utf8CodeUnitCount && matchesIgnoringCase(bytes, at: 0, text)
        }
    }

    /// Whether `string` is `text`, ASCII letters in either case (see
    /// ``hasPrefixIgnoringCase(_:_:)``).
    public static func equalIgnoringCase(_ string: String, _ text: StaticString) -> Bool {
        string.utf8.count == text.utf8CodeUnitCount && hasPrefixIgnoringCase(string, text)
    }

    /// Whether `bytes` are `text`, ASCII letters in either case (`text` is written in
    /// lower case; its other bytes match exactly).
    @inlinable
    public static func equalIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        bytes.count == text.utf8CodeUnitCount && matchesIgnoringCase(bytes, at: 0, text)
    }

    /// Whether `bytes` are `lowercase` (lower-case ASCII), ASCII letters in either case.
    public static func equalIgnoringCase(_ bytes: UnsafeRawBufferPointer, lowercase: UnsafeRawBufferPointer) -> Bool {
        bytes.count == lowercase.count && matchesIgnoringCase(bytes, at: 0, lowercase)
    }

    /// Whether the `text.utf8CodeUnitCount` bytes at `start` are `text` in either case.
    @usableFromInline
    static func matchesIgnoringCase(_ bytes: UnsafeRawBufferPointer, at start: Int, _ text: StaticString) -> Bool {
        matchesIgnoringCase(bytes, at: start, UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Whether the `lowercase.count` bytes at `start` are `lowercase` (its letters in
    /// lower case; its other bytes match exactly) in either case. Inlined: with a
    /// constant `text` the loop is compiled for its length.
    @inline(__always)
    static func matchesIgnoringCase(_ bytes: UnsafeRawBufferPointer, at start: Int, _ lowercase: UnsafeRawBufferPointer) -> Bool {
        for offset in 0..<lowercase.count {
            let wanted = lowercase[offset]
            let byte = bytes[start + offset]
            let isLetter = wanted >= UInt8(ascii: "a") && wanted <= UInt8(ascii: "z")
            if isLetter ? byte | 0x20 != wanted : byte != wanted { return false }
        }
        return true
    }
}

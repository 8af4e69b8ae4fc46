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
        // Both pointers read once: `bytes[i]` unwraps the base address and `utf8Start`
        // checks its representation at every step, tripling a short key's comparison.
        let wanted = text.utf8Start
        for i in 0..<count where base.load(fromByteOffset: i, as: UInt8.self) != wanted[i] { return false }
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

    /// Whether `bytes` are `text`, ASCII letters in either case (`text` is written in
    /// lower case; its other bytes match exactly).
    @inlinable
    public static func equalIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        bytes.count == text.utf8CodeUnitCount && matchesIgnoringCase(bytes, at: 0, text)
    }

    /// Whether the `text.utf8CodeUnitCount` bytes at `start` are `text` in either case.
    @usableFromInline
    static func matchesIgnoringCase(_ bytes: UnsafeRawBufferPointer, at start: Int, _ text: StaticString) -> Bool {
        for offset in 0..<text.utf8CodeUnitCount {
            let wanted = text.utf8Start[offset]
            let byte = bytes[start + offset]
            let isLetter = wanted >= UInt8(ascii: "a") && wanted <= UInt8(ascii: "z")
            if isLetter ? byte | 0x20 != wanted : byte != wanted { return false }
        }
        return true
    }
}

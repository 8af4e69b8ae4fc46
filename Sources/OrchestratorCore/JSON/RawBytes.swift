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
        guard bytes.count >= text.utf8CodeUnitCount else { return false }
        for i in 0..<text.utf8CodeUnitCount where bytes[i] != text.utf8Start[i] { return false }
        return true
    }

    /// Whether `text` occurs anywhere in `bytes`, ASCII letters in either case (`text`
    /// is written in lower case; its other bytes match exactly).
    public static func containsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard bytes.count >= count else { return false }
        func matches(_ byte: UInt8, _ wanted: UInt8) -> Bool {
            wanted >= UInt8(ascii: "a") && wanted <= UInt8(ascii: "z") ? byte | 0x20 == wanted : byte == wanted
        }
        for start in 0...(bytes.count - count) where (0..<count).allSatisfy({ matches(bytes[start + $0], text.utf8Start[$0]) }) {
            return true
        }
        return false
    }
}

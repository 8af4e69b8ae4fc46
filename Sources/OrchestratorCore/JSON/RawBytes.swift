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
}

/// Request ids (`x-request-id`).
public enum RequestID {
    /// Whether an incoming id may be echoed: `[A-Za-z0-9._:-]{1,128}`.
    public static func isValid(_ id: some StringProtocol) -> Bool {
        let utf8 = id.utf8
        guard !utf8.isEmpty, utf8.count <= 128 else { return false }
        return utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: ":") || b == UInt8(ascii: "-")
        }
    }

    /// A new id: 32 lowercase hex characters from the system random source.
    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        let hi = rng.next() as UInt64
        let lo = rng.next() as UInt64
        return hex(hi) + hex(lo)
    }

    private static func hex(_ value: UInt64) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

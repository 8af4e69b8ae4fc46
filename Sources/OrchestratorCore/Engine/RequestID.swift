import Synchronization

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

    /// A new id: 32 lowercase hex characters, unique within the process and random-looking
    /// across processes: a per-process random key, then a counter through a bijective
    /// mixer (no system call per request, unlike reading the system random source).
    public static func generate() -> String {
        let n = counter.add(1, ordering: .relaxed).newValue
        return processPrefix + Hex.lowercase(mix(n ^ processKey))
    }

    private static let processKey: UInt64 = {
        var rng = SystemRandomNumberGenerator()
        return rng.next()
    }()
    private static let processPrefix = Hex.lowercase(processKey)
    private static let counter = Atomic<UInt64>(0)

    /// SplitMix64's finalizer: a bijection on 64-bit integers.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

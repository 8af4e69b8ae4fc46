import Foundation
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

    /// A new id: 32 lowercase hex characters that sort by creation time — the Unix time in
    /// milliseconds (12 digits), a per-process random tag (8) and a per-process counter
    /// (12). Unique within the process by the counter, across processes by time and tag;
    /// no system call per id.
    ///
    /// Time first, like UUIDv7: request-log rows use these as keys, and an index over
    /// keys that grow with time takes each insert at its right edge, where random keys
    /// would touch (and, once the index outgrows SQLite's page cache, read and rewrite) a
    /// different page for every row.
    public static func generate() -> String {
        generate(unixMillis: UInt64(max(0, (Date().timeIntervalSince1970 * 1000).rounded(.down))))
    }

    static func generate(unixMillis: UInt64) -> String {
        let n = counter.add(1, ordering: .relaxed).newValue
        return String(unsafeUninitializedCapacity: 32) { out in
            let base = out.baseAddress!
            writeHex(unixMillis, digits: 12, to: base)
            writeHex(processTag, digits: 8, to: base + 12)
            writeHex(n, digits: 12, to: base + 20)
            return 32
        }
    }

    /// The low `digits` hex digits of `value`, most significant first, written from the
    /// last digit back (a plain loop: this runs twice for every request).
    @inline(__always)
    private static func writeHex(_ value: UInt64, digits: Int, to out: UnsafeMutablePointer<UInt8>) {
        var value = value
        var at = digits
        while at > 0 {
            at -= 1
            out[at] = Hex.digit(UInt8(truncatingIfNeeded: value) & 0x0F)
            value >>= 4
        }
    }

    private static let processTag: UInt64 = {
        var rng = SystemRandomNumberGenerator()
        return rng.next() & 0xFFFF_FFFF
    }()
    private static let counter = Atomic<UInt64>(0)
}

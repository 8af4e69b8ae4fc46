import Crypto
public import Foundation

/// Hashing and comparison of client keys.
public enum KeyHashing {
    /// Lower-case hex SHA-256 of `secret`: how client keys are stored.
    public static func sha256Hex(_ secret: String) -> String {
        sha256(secret).withUnsafeBytes { Hex.lowercase($0) }
    }

    /// The SHA-256 of `secret` as a ``SHA256Words`` value, for looking a key up.
    static func sha256Words(_ secret: String) -> SHA256Words {
        sha256(secret).withUnsafeBytes { SHA256Words(bytes: $0) }
    }

    /// Hashed from the string's own bytes (this runs for every request).
    private static func sha256(_ secret: String) -> SHA256.Digest {
        var secret = secret
        return secret.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
    }

    /// Compares two byte strings in time independent of where they differ.
    public static func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        // Contiguous bytes (native strings' UTF-8, arrays) are compared by index: going
        // through `zip` costs an iterator step per byte, and this runs for every request.
        let contiguous = a.withContiguousStorageIfAvailable { x in
            b.withContiguousStorageIfAvailable { y in
                var diff: UInt8 = 0
                for index in 0..<x.count { diff |= x[index] ^ y[index] }
                return diff
            }
        }
        if let diff = contiguous ?? nil { return diff == 0 }
        var diff: UInt8 = 0
        for (x, y) in zip(a, b) { diff |= x ^ y }
        return diff == 0
    }

    /// A new random client key secret: `sk-orch-` and 40 base62 characters.
    public static func generateSecret() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var rng = SystemRandomNumberGenerator()
        return "sk-orch-" + String((0..<40).map { _ in alphabet[Int(rng.next(upperBound: UInt64(alphabet.count)))] })
    }

    /// The displayable prefix of a secret (never enough to use it).
    public static func displayPrefix(_ secret: String) -> String {
        String(secret.prefix(min(12, max(0, secret.count / 3))))
    }
}

/// The in-memory table of client keys, swapped as a whole on change.
///
/// Lookups hash the presented secret and find the entry by hash; the hashes compare in
/// constant time, so timing does not reveal how much of a hash matched.
public struct ClientKeyDirectory: Sendable {
    public struct Entry: Sendable {
        public var keyHash: String
        public var principal: Principal
        public var enabled: Bool
        public var expiresAt: Date?

        public init(keyHash: String, principal: Principal, enabled: Bool = true, expiresAt: Date? = nil) {
            self.keyHash = keyHash
            self.principal = principal
            self.enabled = enabled
            self.expiresAt = expiresAt
        }
    }

    /// Entries by their hash's 32 bytes: a lookup then hashes and compares four words,
    /// where a key of 64 hex digits cost a string for the presented key's hash and a
    /// hash of 64 bytes (this runs for every request). An entry whose `keyHash` is not a
    /// lower-case hex SHA-256 matches no secret, as it never could.
    private let byHash: [SHA256Words: Entry]
    private let count: Int

    public init(entries: [Entry]) {
        var byHash: [SHA256Words: Entry] = [:]
        for entry in entries {
            guard let words = SHA256Words(lowercaseHex: entry.keyHash), byHash[words] == nil else { continue }
            byHash[words] = entry
        }
        self.byHash = byHash
        self.count = entries.count
    }

    /// Whether any client key is configured.
    public var isEmpty: Bool { count == 0 }

    public enum Outcome: Sendable {
        case valid(Principal)
        case unknown
        case disabled
        case expired
    }

    /// Authenticates a presented secret.
    public func authenticate(_ secret: String, now: Date = Date()) -> Outcome {
        let hash = KeyHashing.sha256Words(secret)
        guard let entry = byHash[hash] else { return .unknown }
        if !entry.enabled { return .disabled }
        if let expiresAt = entry.expiresAt, expiresAt <= now { return .expired }
        return .valid(entry.principal)
    }
}

/// A SHA-256 digest as four 64-bit words (its bytes in order, read big-endian).
struct SHA256Words: Hashable, Sendable {
    var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    /// The 32 bytes of a digest.
    init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == 32, "a SHA-256 digest is 32 bytes")
        func word(_ at: Int) -> UInt64 { UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        (w0, w1, w2, w3) = (word(0), word(8), word(16), word(24))
    }

    /// Parses 64 lower-case hex digits (what ``KeyHashing/sha256Hex(_:)`` writes); nil
    /// for anything else.
    init?(lowercaseHex text: String) {
        let digits = Array(text.utf8)
        guard digits.count == 64 else { return nil }
        /// The word of the 16 digits from `start`.
        func word(_ start: Int) -> UInt64? {
            var word: UInt64 = 0
            for digit in digits[start..<start + 16] {
                switch digit {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): word = word << 4 | UInt64(digit - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): word = word << 4 | UInt64(digit - UInt8(ascii: "a") + 10)
                default: return nil
                }
            }
            return word
        }
        guard let w0 = word(0), let w1 = word(16), let w2 = word(32), let w3 = word(48) else { return nil }
        (self.w0, self.w1, self.w2, self.w3) = (w0, w1, w2, w3)
    }

    /// Equality in time independent of where the words differ: the dictionary's lookup
    /// compares with this, so its timing does not tell how much of a hash matched.
    static func == (lhs: SHA256Words, rhs: SHA256Words) -> Bool {
        ((lhs.w0 ^ rhs.w0) | (lhs.w1 ^ rhs.w1) | (lhs.w2 ^ rhs.w2) | (lhs.w3 ^ rhs.w3)) == 0
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(w0)
        hasher.combine(w1)
        hasher.combine(w2)
        hasher.combine(w3)
    }
}

/// Lowercase hexadecimal, for key hashes and request ids.
enum Hex {
    /// The lowercase hex digit for `nibble` (0...15).
    @inline(__always)
    static func digit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ (nibble &- 10)
    }

    /// Two digits per byte, written into the string's own storage.
    static func lowercase(_ bytes: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            for (index, byte) in bytes.enumerated() {
                out[2 * index] = digit(byte >> 4)
                out[2 * index + 1] = digit(byte & 0x0F)
            }
            return bytes.count * 2
        }
    }

    /// The 16 digits of `value`, most significant first.
    static func lowercase(_ value: UInt64) -> String {
        withUnsafeBytes(of: value.bigEndian) { lowercase($0) }
    }
}

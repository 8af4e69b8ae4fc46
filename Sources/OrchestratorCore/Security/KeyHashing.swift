import Crypto
public import Foundation

/// Hashing and comparison of client keys.
public enum KeyHashing {
    /// Lower-case hex SHA-256 of `secret`: how client keys are stored and looked up.
    /// (Hashed from the string's own bytes and written straight into the result: this
    /// runs for every request.)
    public static func sha256Hex(_ secret: String) -> String {
        var secret = secret
        let digest = secret.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        return digest.withUnsafeBytes { Hex.lowercase($0) }
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
/// Lookups hash the presented secret and find the entry by hash; the final comparison
/// is constant-time so timing does not reveal how much of a hash matched.
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

    private let byHash: [String: Entry]

    public init(entries: [Entry]) {
        self.byHash = Dictionary(entries.map { ($0.keyHash, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Whether any client key is configured.
    public var isEmpty: Bool { byHash.isEmpty }

    public enum Outcome: Sendable {
        case valid(Principal)
        case unknown
        case disabled
        case expired
    }

    /// Authenticates a presented secret.
    public func authenticate(_ secret: String, now: Date = Date()) -> Outcome {
        let hash = KeyHashing.sha256Hex(secret)
        guard let entry = byHash[hash], KeyHashing.constantTimeEquals(entry.keyHash.utf8, hash.utf8) else {
            return .unknown
        }
        if !entry.enabled { return .disabled }
        if let expiresAt = entry.expiresAt, expiresAt <= now { return .expired }
        return .valid(entry.principal)
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

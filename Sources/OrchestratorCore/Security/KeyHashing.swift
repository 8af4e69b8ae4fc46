import Crypto
public import Foundation

/// Hashing and comparison of client keys.
public enum KeyHashing {
    /// Lower-case hex SHA-256 of `secret`: how client keys are stored and looked up.
    public static func sha256Hex(_ secret: String) -> String {
        let digest = SHA256.hash(data: Array(secret.utf8))
        return Hex.lowercase(digest)
    }

    /// Compares two byte strings in time independent of where they differ.
    public static func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
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
        guard let entry = byHash[hash], KeyHashing.constantTimeEquals(Array(entry.keyHash.utf8), Array(hash.utf8)) else {
            return .unknown
        }
        if !entry.enabled { return .disabled }
        if let expiresAt = entry.expiresAt, expiresAt <= now { return .expired }
        return .valid(entry.principal)
    }
}

/// Lowercase hexadecimal, for key hashes and request ids.
enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// The lowercase hex digit for `nibble` (0...15).
    @inline(__always)
    static func digit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ (nibble &- 10)
    }

    static func lowercase(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The 16 digits of `value`, most significant first.
    static func lowercase(_ value: UInt64) -> String {
        withUnsafeBytes(of: value.bigEndian) { lowercase($0) }
    }
}

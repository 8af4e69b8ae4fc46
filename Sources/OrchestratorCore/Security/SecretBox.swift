import Crypto
public import Foundation

/// Encrypts upstream secrets at rest with AES-256-GCM.
///
/// The stored form is `v1:` followed by base64 of nonce ‖ ciphertext ‖ tag.
public struct SecretBox: Sendable {
    private let key: SymmetricKey

    /// - Parameter keyData: exactly 32 bytes.
    public init(keyData: Data) throws(GatewayError) {
        guard keyData.count == 32 else {
            throw .invalidRequest("the secret key must be 32 bytes (base64 of 32 random bytes)")
        }
        self.key = SymmetricKey(data: keyData)
    }

    /// A box with a fresh random key.
    public static func generateKeyData() -> Data {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
    }

    public func seal(_ plaintext: String) throws -> String {
        let sealed = try AES.GCM.seal(Data(plaintext.utf8), using: key)
        guard let combined = sealed.combined else { throw GatewayError.internalError("AES-GCM seal failed") }
        return "v1:" + combined.base64EncodedString()
    }

    public func open(_ stored: String) throws -> String {
        guard stored.hasPrefix("v1:"), let combined = Data(base64Encoded: String(stored.dropFirst(3))) else {
            throw GatewayError.internalError("stored secret has an unknown format")
        }
        let box = try AES.GCM.SealedBox(combined: combined)
        let plain = try AES.GCM.open(box, using: key)
        return String(decoding: plain, as: UTF8.self)
    }
}

import Crypto
import Foundation
public import NIOSSL
import SwiftASN1
import X509

/// A throwaway self-signed certificate for `localhost`, for HTTPS tests:
/// a server context for ``MockUpstream`` and a PEM file a client can trust.
public struct TestCertificate: Sendable {
    /// The server side: certificate and private key.
    public let serverContext: NIOSSLContext
    /// A PEM file holding the certificate (the trust root for clients).
    public let caFile: String

    public init() throws {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("orchestrator test") }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86_400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                KeyUsage(digitalSignature: true, keyCertSign: true)
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName("localhost")])
            },
            issuerPrivateKey: .init(key))
        let pem = try certificate.serializeAsPEM().pemString
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("orchestrator-test-ca-\(UUID().uuidString).pem").path
        try pem.write(toFile: path, atomically: true, encoding: .utf8)
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(pem.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem)))
        self.serverContext = try NIOSSLContext(configuration: configuration)
        self.caFile = path
    }
}

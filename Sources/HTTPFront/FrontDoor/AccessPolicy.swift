public import Foundation
public import OrchestratorCore
import Synchronization

/// Who may call what: the client-key directory (swapped as a whole when keys change),
/// the admin key, and whether anonymous access is allowed.
///
/// Plain logic over strings, shared by every front end (Hummingbird routes today, a
/// NIO data plane later).
public final class AccessPolicy: Sendable {
    private let directory: Mutex<ClientKeyDirectory>
    private let adminKeyHash: [UInt8]?
    private let allowAnonymous: Bool

    /// - Parameters:
    ///   - directory: the configured client keys.
    ///   - adminKey: the admin key, or nil when none is configured (then `/admin` answers 401).
    ///   - loopbackOnly: whether the server listens on loopback only; with no client key
    ///     configured, `/v1` then admits callers as `anonymous`.
    public init(directory: ClientKeyDirectory, adminKey: String?, loopbackOnly: Bool) {
        self.directory = Mutex(directory)
        self.adminKeyHash = adminKey.flatMap { $0.isEmpty ? nil : Array(KeyHashing.sha256Hex($0).utf8) }
        self.allowAnonymous = loopbackOnly
    }

    /// Replaces the client-key directory (after an admin change).
    public func replaceDirectory(_ newDirectory: ClientKeyDirectory) {
        directory.withLock { $0 = newDirectory }
    }

    /// Whether requests without a configured key are admitted as `anonymous`.
    public var admitsAnonymous: Bool {
        allowAnonymous && directory.withLock { $0.isEmpty }
    }

    /// Authenticates a `/v1` caller.
    public func authenticateClient(_ credential: String?, now: Date = Date()) throws(GatewayError) -> Principal {
        let current = directory.withLock { $0 }
        if current.isEmpty {
            if allowAnonymous { return .anonymous }
            throw .unauthorized("No client keys are configured and the gateway is not bound to loopback; create a key.")
        }
        guard let credential else {
            throw .unauthorized("Missing API key. Send it as 'Authorization: Bearer <key>'.", code: "missing_api_key")
        }
        switch current.authenticate(credential, now: now) {
        case .valid(let principal): return principal
        case .unknown: throw .unauthorized("Incorrect API key provided.")
        case .disabled: throw .unauthorized("This API key is disabled.", code: "api_key_disabled")
        case .expired: throw .unauthorized("This API key has expired.", code: "api_key_expired")
        }
    }

    /// Authenticates an `/admin` caller: the admin key passes, a client key is 403,
    /// anything else 401.
    public func authenticateAdmin(_ credential: String?) throws(GatewayError) {
        guard let adminKeyHash else {
            throw .unauthorized(
                "No admin key is configured; set ORCH_ADMIN_KEY or admin.key.", code: "admin_key_not_configured")
        }
        guard let credential else { throw .unauthorized("Missing admin key.", code: "missing_api_key") }
        let presented = Array(KeyHashing.sha256Hex(credential).utf8)
        if KeyHashing.constantTimeEquals(presented, adminKeyHash) { return }
        if case .valid = directory.withLock({ $0 }).authenticate(credential) {
            throw .forbidden("A client key cannot use the admin API.")
        }
        throw .unauthorized("Incorrect admin key provided.")
    }
}

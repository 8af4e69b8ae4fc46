public import Foundation

/// A parsed `database.url`.
///
/// - `sqlite:///abs/path.db` — absolute path
/// - `sqlite://./rel.db` or `sqlite://data/x.db` — relative to the working directory
/// - `sqlite::memory:` — a private in-memory database
/// - `mysql://user:pass@host:3306/db?pool=10`
public enum DatabaseURL: Sendable, Hashable, CustomStringConvertible {
    case sqlite(path: String)
    case mysql(MySQLLocation)

    public struct MySQLLocation: Sendable, Hashable {
        public var user: String
        public var password: String
        public var host: String
        public var port: Int
        public var database: String
        public var poolSize: Int
    }

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public init(parsing text: String) throws {
        if text == "sqlite::memory:" || text == "sqlite://:memory:" {
            self = .sqlite(path: ":memory:")
            return
        }
        if text.hasPrefix("sqlite://") {
            // Parsed by hand: Foundation's URL reads the "." of "./rel.db" as a host.
            let path = String(text.dropFirst("sqlite://".count))
            guard !path.isEmpty else { throw Invalid(description: "sqlite URL has no path: \(text)") }
            self = .sqlite(path: path)
            return
        }
        if text.hasPrefix("mysql://") {
            guard let components = URLComponents(string: text), let host = components.host, !host.isEmpty else {
                throw Invalid(description: "cannot parse MySQL URL (expected mysql://user:pass@host:3306/db)")
            }
            let database = String(components.path.drop(while: { $0 == "/" }))
            guard !database.isEmpty else { throw Invalid(description: "MySQL URL names no database") }
            let pool = components.queryItems?.first(where: { $0.name == "pool" })?.value.flatMap(Int.init) ?? 10
            self = .mysql(
                MySQLLocation(
                    // URLComponents decodes these already (decoding again would turn "%25…" into garbage).
                    user: components.user ?? "root",
                    password: components.password ?? "", host: host,
                    port: components.port ?? 3306, database: database, poolSize: max(1, pool)))
            return
        }
        throw Invalid(description: "unsupported database URL scheme (use sqlite://… or mysql://…)")
    }

    /// The URL with any password masked, for logs.
    public var description: String {
        switch self {
        case .sqlite(let path): return "sqlite://\(path)"
        case .mysql(let m): return "mysql://\(m.user):***@\(m.host):\(m.port)/\(m.database)"
        }
    }
}

/// Finds or creates the key that seals upstream secrets at rest.
public enum SecretKeySource {
    public struct Resolved: Sendable {
        public var keyData: Data
        /// Where it came from, for the start-up log line (never the key itself).
        public var origin: String
    }

    /// `ORCH_SECRET_KEY` (base64 of 32 bytes) if set; else a key file next to the SQLite
    /// database (`<db>.key`, mode 0600), created on first use; for in-memory databases
    /// an ephemeral key.
    public static func resolve(environmentValue: String?, databasePath: String?) throws -> Resolved {
        if let value = environmentValue, !value.isEmpty {
            guard let data = Data(base64Encoded: value), data.count == 32 else {
                throw DatabaseURL.Invalid(description: "ORCH_SECRET_KEY must be base64 of exactly 32 bytes")
            }
            return Resolved(keyData: data, origin: "ORCH_SECRET_KEY")
        }
        guard let databasePath, databasePath != ":memory:" else {
            return Resolved(keyData: SecretBoxKey.generate(), origin: "ephemeral (in-memory database)")
        }
        let keyPath = databasePath + ".key"
        let fm = FileManager.default
        if let existing = fm.contents(atPath: keyPath) {
            let text = String(decoding: existing, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let data = Data(base64Encoded: text), data.count == 32 else {
                throw DatabaseURL.Invalid(description: "key file \(keyPath) does not hold base64 of 32 bytes")
            }
            return Resolved(keyData: data, origin: "key file \(keyPath)")
        }
        let folder = (keyPath as NSString).deletingLastPathComponent
        if !folder.isEmpty { try fm.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let data = SecretBoxKey.generate()
        guard fm.createFile(atPath: keyPath, contents: Data(data.base64EncodedString().utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw DatabaseURL.Invalid(description: "cannot create key file \(keyPath)")
        }
        return Resolved(keyData: data, origin: "generated key file \(keyPath)")
    }
}

import OrchestratorCore

enum SecretBoxKey {
    static func generate() -> Data { SecretBox.generateKeyData() }
}

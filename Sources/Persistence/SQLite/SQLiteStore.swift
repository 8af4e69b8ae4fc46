import Foundation
public import Logging
public import OrchestratorCore

/// The SQLite backend: configuration, request logs and health on one database file.
///
/// All SQL is prepared with bound parameters; none is built from values.
public final class SQLiteStore: ConfigStore, RequestLogStore, HealthStore, ReadinessProbe, LogBatchInserter {
    let database: SQLiteDatabase
    private let box: SecretBox
    private let logger: Logger

    /// Opens the database at `path` and brings its schema up to date.
    ///
    /// - Parameters:
    ///   - path: a file path, or `:memory:` for a private in-memory database.
    ///   - secretBox: seals upstream secrets at rest.
    public static func open(path: String, secretBox: SecretBox, logger: Logger) async throws -> SQLiteStore {
        if path != ":memory:" {
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
        }
        let database = try await SQLiteDatabase.open(path: path)
        let store = SQLiteStore(database: database, box: secretBox, logger: logger)
        try await store.migrate()
        return store
    }

    private init(database: SQLiteDatabase, box: SecretBox, logger: Logger) {
        self.database = database
        self.box = box
        self.logger = logger
    }

    /// Closes the database.
    public func close() async {
        await database.close()
    }

    // MARK: Migrations

    /// Applies pending migrations; returns the versions applied now.
    ///
    /// Runs inside one `BEGIN IMMEDIATE` transaction: SQLite DDL is transactional, and
    /// the write lock serializes concurrent migrators (other processes wait on the
    /// busy timeout, then find the work done).
    @discardableResult
    public func migrate() async throws -> [Int] {
        let applied = try await database.run { db -> [Int] in
            try db.transaction {
                try db.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
                )
                let done = Set(try db.query("SELECT version FROM schema_migrations").compactMap { $0[0].int })
                var now: [Int] = []
                for migration in Migrations.all where !done.contains(Int64(migration.version)) {
                    for statement in migration.statements(for: .sqlite) { try db.execute(statement) }
                    try db.query(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                        [.int(Int64(migration.version)), .text(migration.name), .int(Clock.millis())])
                    now.append(migration.version)
                }
                return now
            }
        }
        if !applied.isEmpty { logger.info("applied migrations", metadata: ["versions": "\(applied)"]) }
        return applied
    }

    /// The applied migration versions.
    public func appliedMigrations() async throws -> [Int] {
        try await database.run { db in
            try db.query("SELECT version FROM schema_migrations ORDER BY version").compactMap { $0[0].int.map(Int.init) }
        }
    }

    // MARK: ConfigStore

    public func syncFromFile(_ settings: GatewaySettings) async throws -> StoredConfiguration {
        let box = self.box
        let warnings = try await database.run { db -> [String] in
            try db.transaction { try ConfigSync(db: db, box: box, now: Clock.millis()).run(settings) }
        }
        for warning in warnings { logger.warning("\(warning)") }
        return try await loadConfiguration()
    }

    public func loadConfiguration() async throws -> StoredConfiguration {
        let box = self.box
        return try await database.run { db in try ConfigSync(db: db, box: box, now: Clock.millis()).load() }
    }

    // MARK: Request logs

    public func insertLogs(_ entries: [RequestLogEntry]) async throws {
        try await database.run { db in
            try db.transaction {
                for e in entries {
                    try db.query(
                        """
                        INSERT INTO request_logs (id, request_id, ts, key_id, key_name, api_style, model, provider,
                          upstream_model, stream, status, attempts, latency_ms, ttft_ms, prompt_tokens, completion_tokens,
                          cached_tokens, tokens_estimated, cost_micros, error, upstream_request_id, request_body, response_body,
                          attempts_detail)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, LogRows.values(e))
                }
            }
        }
    }

    public func logs(_ query: RequestLogQuery) async throws -> [RequestLogEntry] {
        let (sql, parameters) = LogRows.select(query)
        return try await database.run { db in try db.query(sql, parameters).map(LogRows.entry) }
    }

    public func countLogs() async throws -> Int {
        try await database.run { db in Int(try db.query("SELECT COUNT(*) FROM request_logs")[0][0].int ?? 0) }
    }

    // MARK: Health

    public func saveHealth(_ record: HealthRecord) async throws {
        try await database.run { db in
            _ = try db.query(
                """
                INSERT INTO provider_health (provider, upstream_model, state, consecutive_failures, last_error, updated_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (provider, upstream_model) DO UPDATE SET state = excluded.state,
                  consecutive_failures = excluded.consecutive_failures, last_error = excluded.last_error,
                  updated_at = excluded.updated_at
                """,
                [
                    .text(record.provider), .text(record.upstreamModel), .text(record.state),
                    .int(Int64(record.consecutiveFailures)), SQLValue(record.lastError), .int(record.updatedAtMillis),
                ])
        }
    }

    public func loadHealth() async throws -> [HealthRecord] {
        try await database.run { db in
            try db.query(
                "SELECT provider, upstream_model, state, consecutive_failures, last_error, updated_at FROM provider_health"
            ).map {
                HealthRecord(
                    provider: $0[0].text ?? "", upstreamModel: $0[1].text ?? "", state: $0[2].text ?? "closed",
                    consecutiveFailures: Int($0[3].int ?? 0), lastError: $0[4].text, updatedAtMillis: $0[5].int ?? 0)
            }
        }
    }

    public func saveKeyHealth(_ record: KeyHealthRecord) async throws {
        try await database.run { db in
            _ = try db.query(
                "UPDATE provider_keys SET state = ?, last_error = ?, updated_at = ? WHERE id = ?",
                [.text(record.state), SQLValue(record.lastError), .int(record.updatedAtMillis), .text(record.keyID)])
        }
    }

    // MARK: Readiness

    public func isReady() async -> Bool {
        (try? await database.run { db in try db.query("SELECT 1").count == 1 }) ?? false
    }
}

enum Clock {
    static func millis() -> Int64 { SystemClock().epochMillis }
}

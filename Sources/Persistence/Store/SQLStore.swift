import Foundation
public import Logging
public import OrchestratorCore

/// The stores on SQL: configuration, request logs and health, on SQLite (one file) or
/// MySQL/MariaDB (a pool of connections). The same statements run on both; the
/// differences are rendered by ``SQLDialect``.
///
/// All SQL is prepared with bound parameters; none is built from values.
public final class SQLStore: ConfigStore, RequestLogStore, HealthStore, ReadinessProbe, LogBatchInserter, AuditStore, StatsStore {
    let database: any SQLDatabase
    private let box: SecretBox
    private let logger: Logger

    /// Opens the SQLite database at `path` and brings its schema up to date.
    ///
    /// - Parameters:
    ///   - path: a file path, or `:memory:` for a private in-memory database.
    ///   - secretBox: seals upstream secrets at rest.
    public static func open(path: String, secretBox: SecretBox, logger: Logger) async throws -> SQLStore {
        if path != ":memory:" {
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
        }
        let database = try await SQLiteDatabase.open(path: path)
        return try await open(database, secretBox: secretBox, logger: logger)
    }

    /// Connects to the MySQL (or MariaDB) database at `location` and brings its schema up
    /// to date. Fails when the server cannot be reached.
    public static func open(mysql location: DatabaseURL.MySQLLocation, secretBox: SecretBox, logger: Logger) async throws
        -> SQLStore
    {
        let database = try await MySQLDatabase.open(location, logger: logger)
        return try await open(database, secretBox: secretBox, logger: logger)
    }

    /// Opens the store `url` names, sealing secrets with `ORCH_SECRET_KEY` (`secretKey`)
    /// or, for SQLite only, a key file beside the database. Returns where the key came
    /// from, for the start-up log line.
    public static func open(url: DatabaseURL, secretKey: String?, logger: Logger) async throws -> (SQLStore, keyOrigin: String) {
        switch url {
        case .sqlite(let path):
            let secret = try SecretKeySource.resolve(environmentValue: secretKey, databasePath: path)
            return (try await open(path: path, secretBox: try SecretBox(keyData: secret.keyData), logger: logger), secret.origin)
        case .mysql(let location):
            guard let secretKey, !secretKey.isEmpty else {
                throw DatabaseURL.Invalid(
                    description: "ORCH_SECRET_KEY is required with a MySQL database (every instance must seal upstream secrets with the same key)")
            }
            let secret = try SecretKeySource.resolve(environmentValue: secretKey, databasePath: nil)
            return (try await open(mysql: location, secretBox: try SecretBox(keyData: secret.keyData), logger: logger), secret.origin)
        }
    }

    private static func open(_ database: any SQLDatabase, secretBox: SecretBox, logger: Logger) async throws -> SQLStore {
        let store = SQLStore(database: database, box: secretBox, logger: logger)
        do {
            try await store.migrate()
        } catch {
            await database.close()
            throw error
        }
        return store
    }

    private init(database: any SQLDatabase, box: SecretBox, logger: Logger) {
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
    /// Concurrent migrators (several instances starting at once) are serialized: on
    /// SQLite by one `BEGIN IMMEDIATE` transaction (its DDL is transactional, and the
    /// others wait on the busy timeout, then find the work done); on MySQL, where DDL
    /// commits implicitly, by the named lock `GET_LOCK('orchestrator_migrations')`, each
    /// migration recorded as soon as it is applied.
    @discardableResult
    public func migrate() async throws -> [Int] {
        let applied = try await database.run { db -> [Int] in
            func pending() throws -> [Int] {
                try db.execute(db.dialect.migrationsTable)
                let done = Set(try db.query("SELECT version FROM schema_migrations").compactMap { $0[0].int })
                var now: [Int] = []
                for migration in Migrations.all where !done.contains(Int64(migration.version)) {
                    for statement in migration.statements(for: db.dialect) { try db.execute(statement) }
                    try db.query(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                        [.int(Int64(migration.version)), .text(migration.name), .int(Clock.millis())])
                    now.append(migration.version)
                }
                return now
            }
            switch db.dialect {
            case .sqlite:
                return try db.transaction { try pending() }
            case .mysql:
                return try db.withNamedLock("orchestrator_migrations") { try pending() }
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
            // Instances starting together sync one at a time (the later ones find the rows).
            try db.withNamedLock("orchestrator_config_sync") {
                try db.transaction {
                    let warnings = try ConfigSync(db: db, box: box, now: Clock.millis()).run(settings)
                    try db.query("UPDATE config_state SET version = version + 1 WHERE id = 1")
                    return warnings
                }
            }
        }
        for warning in warnings { logger.warning("\(warning)") }
        return try await loadConfiguration()
    }

    public func loadConfiguration() async throws -> StoredConfiguration {
        try await loadVersionedConfiguration().configuration
    }

    /// Read in one transaction on MySQL, so the tables come from one snapshot even while
    /// another instance writes.
    public func loadVersionedConfiguration() async throws -> (version: Int64, configuration: StoredConfiguration) {
        let box = self.box
        let loaded = try await database.run { db -> VersionedConfiguration in
            func read() throws -> VersionedConfiguration {
                let version = try db.query("SELECT version FROM config_state WHERE id = 1").first?.first?.int ?? 0
                return VersionedConfiguration(version: version, configuration: try ConfigSync(db: db, box: box, now: Clock.millis()).load())
            }
            return db.dialect == .mysql ? try db.transaction(read) : try read()
        }
        return (loaded.version, loaded.configuration)
    }

    public func configurationVersion() async throws -> Int64 {
        try await database.run { db in try db.query("SELECT version FROM config_state WHERE id = 1").first?.first?.int ?? 0 }
    }

    public func apply(_ changes: [ConfigChange]) async throws -> ConfigChangeResult {
        let box = self.box
        let outcome: WriteOutcome
        do {
            outcome = try await database.run { db -> WriteOutcome in
                // One writer at a time across instances, and all or nothing.
                try db.withNamedLock("orchestrator_config_sync") {
                    try db.transaction {
                        var writer = ConfigWriter(rows: ConfigRows(db: db, box: box, now: Clock.millis()))
                        for change in changes { try writer.apply(change) }
                        try db.query("UPDATE config_state SET version = version + 1 WHERE id = 1")
                        return WriteOutcome(added: writer.addedKeyIDs, enabled: writer.enabledKeys.map { [$0.provider, $0.keyID] })
                    }
                }
            }
        } catch let error as DatabaseError where error.isUniqueViolation {
            throw ConfigChangeError(.conflict, "A value that must be unique is already taken (a name, or a key's secret).")
        } catch let error as DatabaseError where error.isDataError {
            throw ConfigChangeError(.invalid, "A value is too long or out of range for the database.")
        }
        let (version, configuration) = try await loadVersionedConfiguration()
        return ConfigChangeResult(
            configuration: configuration, addedKeyIDs: outcome.added,
            enabledKeys: outcome.enabled.map { (provider: $0[0], keyID: $0[1]) }, version: version)
    }

    // MARK: Audit

    public func appendAudit(_ entries: [AuditEntry]) async throws {
        try await database.run { db in
            try db.transaction {
                for e in entries {
                    try db.query(
                        "INSERT INTO audit_log (id, ts, actor, action, resource, entity, before_doc, after_doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [.text(e.id), .int(e.timestampMillis), .text(LogRows.fit(e.actor, LogRows.name)), .text(e.action),
                         .text(e.resource), .text(LogRows.fit(e.entity, LogRows.name)),
                         SQLValue(try e.before.map { try JSONCoding.encodeString($0) }),
                         SQLValue(try e.after.map { try JSONCoding.encodeString($0) })])
                }
            }
        }
    }

    public func audit(limit: Int, after cursor: (timestampMillis: Int64, id: String)?, resource: String?, entity: String?)
        async throws -> [AuditEntry]
    {
        var conditions: [String] = []
        var parameters: [SQLValue] = []
        if let resource {
            conditions.append("resource = ?")
            parameters.append(.text(resource))
        }
        if let entity {
            conditions.append("entity = ?")
            parameters.append(.text(entity))
        }
        if let cursor {
            conditions.append("(ts < ? OR (ts = ? AND id < ?))")
            parameters += [.int(cursor.timestampMillis), .int(cursor.timestampMillis), .text(cursor.id)]
        }
        var sql = "SELECT id, ts, actor, action, resource, entity, before_doc, after_doc FROM audit_log"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY ts DESC, id DESC LIMIT ?"
        parameters.append(.int(Int64(max(1, min(limit, 500)))))
        let query = sql
        let values = parameters
        return try await database.run { db in
            try db.query(query, values).map { row in
                AuditEntry(
                    id: row[0].text ?? "", timestampMillis: row[1].int ?? 0, actor: row[2].text ?? "", action: row[3].text ?? "",
                    resource: row[4].text ?? "", entity: row[5].text ?? "",
                    before: row[6].text.flatMap { try? JSONCoding.decode(JSONValue.self, from: $0) },
                    after: row[7].text.flatMap { try? JSONCoding.decode(JSONValue.self, from: $0) })
            }
        }
    }

    // MARK: Request logs

    public func insertLogs(_ entries: [RequestLogEntry]) async throws {
        try await database.run { db in try Self.insert(entries, into: db) }
    }

    /// With nothing queued behind the batch, the insert is background work: its commit
    /// must not hold a core that a request is waiting for. A writer that is behind
    /// inserts at normal priority.
    public func insertLogs(_ entries: [RequestLogEntry], backlog: Int) async throws {
        guard backlog == 0 else { return try await insertLogs(entries) }
        try await database.runBackground { db in try Self.insert(entries, into: db) }
    }

    private static func insert(_ entries: [RequestLogEntry], into db: any SQLConnection) throws {
        try db.transaction {
            // Several rows per statement (see `LogRows.insert(rows:dialect:)`).
            var values: [SQLValue] = []
            var rows = 0
            var textBytes = 0
            func flush() throws {
                guard rows > 0 else { return }
                try db.query(LogRows.insert(rows: rows, dialect: db.dialect), values)
                values.removeAll(keepingCapacity: true)
                rows = 0
                textBytes = 0
            }
            let columns = LogRows.columnCount
            for e in entries {
                if rows == LogRows.rowsPerInsert { try flush() }
                if values.isEmpty { values.reserveCapacity(columns * min(entries.count, LogRows.rowsPerInsert)) }
                let bytes = LogRows.append(e, to: &values)
                if rows > 0, textBytes + bytes > LogRows.textBytesPerInsert {
                    // This row's text would make the statement too large: the rows before
                    // it go first, and it starts the next statement.
                    let row = Array(values[(values.count - columns)...])
                    values.removeLast(columns)
                    try flush()
                    values.append(contentsOf: row)
                }
                rows += 1
                textBytes += bytes
            }
            try flush()
            // The hourly rollups move with the rows, in the same transaction: the
            // statistics never disagree with the logs, and the current hour is live.
            let upsert = StatsRows.upsert(db.dialect)
            for (key, aggregate) in StatsRows.rollup(entries) {
                try db.query(upsert, StatsRows.parameters(key, aggregate))
            }
            // The client keys' lifetime usage and last use, once per key per batch
            // (a key that is not stored, such as `anonymous`, matches no row).
            for usage in StatsRows.keyUsage(entries) {
                try db.query(
                    """
                    UPDATE api_keys SET used_tokens = used_tokens + ?, used_micros = used_micros + ?,
                      last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < ? THEN ? ELSE last_used_at END
                    WHERE id = ?
                    """,
                    [.int(usage.tokens), .int(usage.micros), .int(usage.lastUsed), .int(usage.lastUsed), .text(usage.keyID)])
            }
        }
    }

    // MARK: Statistics

    public func stats(_ query: StatsQuery) async throws -> [StatsGroup] {
        let (sql, parameters, groups) = StatsRows.select(query)
        return try await database.run { db in
            try db.query(sql, parameters).compactMap { StatsRows.group($0, groups: groups) }
        }
    }

    public func logs(_ query: RequestLogQuery) async throws -> [RequestLogEntry] {
        let (sql, parameters) = LogRows.select(query)
        return try await database.run { db in try db.query(sql, parameters).map(LogRows.entry) }
    }

    public func log(id: String) async throws -> RequestLogEntry? {
        try await database.run { db in
            try db.query("SELECT \(LogRows.columns) FROM request_logs WHERE id = ?", [.text(id)]).first.map(LogRows.entry)
        }
    }

    /// Deletes in one small transaction, so the log writer is never held up for long,
    /// as background work (on SQLite, the thread yields the core to requests meanwhile).
    public func deleteLogs(before millis: Int64, limit: Int) async throws -> Int {
        try await database.runBackground { db in
            try db.transaction {
                let parameters: [SQLValue] = [.int(millis), .int(Int64(max(1, limit)))]
                switch db.dialect {
                case .sqlite:
                    try db.query(
                        "DELETE FROM request_logs WHERE id IN (SELECT id FROM request_logs WHERE ts < ? ORDER BY ts LIMIT ?)",
                        parameters)
                    return Int(try db.query("SELECT changes()").first?.first?.int ?? 0)
                case .mysql:
                    try db.query("DELETE FROM request_logs WHERE ts < ? ORDER BY ts LIMIT ?", parameters)
                    return Int(try db.query("SELECT ROW_COUNT()").first?.first?.int ?? 0)
                }
            }
        }
    }

    public func countLogs() async throws -> Int {
        try await database.run { db in Int(try db.query("SELECT COUNT(*) FROM request_logs")[0][0].int ?? 0) }
    }

    // MARK: Health

    public func saveHealth(_ record: HealthRecord) async throws {
        try await database.run { db in
            _ = try db.query(
                db.dialect.upsert(
                    into: "provider_health",
                    columns: ["provider", "upstream_model", "state", "consecutive_failures", "last_error", "updated_at"],
                    key: ["provider", "upstream_model"]),
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

/// What one write batch did (Sendable across the database thread).
private struct WriteOutcome: Sendable {
    var added: [String]
    var enabled: [[String]]
}

private struct VersionedConfiguration: Sendable {
    var version: Int64
    var configuration: StoredConfiguration
}

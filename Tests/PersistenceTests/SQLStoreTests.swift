import Foundation
import Logging
import OrchestratorCore
import Synchronization
import Testing

@testable import Persistence

func openStore(path: String = ":memory:", box: SecretBox? = nil) async throws -> SQLStore {
    try await SQLStore.open(
        path: path, secretBox: try box ?? SecretBox(keyData: SecretBox.generateKeyData()), logger: Logger(label: "test"))
}

func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "orch-test-" + RequestID.generate()
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func sampleSettings() -> GatewaySettings {
    var settings = GatewaySettings()
    var openai = ProviderConfig(name: "openai", type: .openai, baseURL: "https://api.openai.com/v1")
    openai.apiKeys = ["sk-first-secret-1111", "sk-second-secret-2222"]
    openai.headers = ["OpenAI-Organization": "org-1"]
    var azure = ProviderConfig(name: "az", type: .azure, baseURL: "https://r.openai.azure.com")
    azure.apiVersion = "2024-10-21"
    azure.azureAuth = .entra
    azure.apiKeys = ["entra-token-aaaa"]
    var gemini = ProviderConfig(name: "gem", type: .gemini, baseURL: ProviderConfig.defaultBaseURL(for: .gemini))
    gemini.fetchImageURLs = true
    var mock = ProviderConfig(name: "demo", type: .mock)
    var mockSettings = MockSettings()
    mockSettings.reply = "hi"
    mockSettings.latencyMs = 5
    mock.mock = mockSettings
    settings.providers = [openai, azure, gemini, mock]
    var target = TargetConfig(provider: "openai", model: "gpt-4o-mini", weight: 3, priority: 0)
    target.capabilities = [.tools, .json]
    target.extraBody = ["top_k": 40]
    target.maxTokensDefault = 1024
    target.price = Price(inputPerMTok: 0.15, outputPerMTok: 0.6, cachedInputPerMTok: 0.075)
    settings.models = [
        ModelConfig(
            name: "fast", targets: [target, TargetConfig(provider: "demo", model: "mock-1", weight: 1, priority: 1)],
            strategy: .roundRobin, price: Price(inputPerMTok: 1, outputPerMTok: 2))
    ]
    var key = ClientKeyConfig(name: "team-a", key: "sk-client-team-a-0000")
    key.models = ["fast"]
    key.rpm = 600
    key.budgetUSD = 12.5
    key.metadata = ["team": "a"]
    key.expiresAt = Date(timeIntervalSince1970: 1_893_456_000)
    settings.keys = [key]
    return settings
}

/// Every repository test, on SQLite and (when configured) MySQL: the same results on both.
struct SQLStoreTests {
    @Test(arguments: TestBackend.all) func migrationsCreateTheWholeSchemaOnceAndAreIdempotent(_ backend: TestBackend) async throws {
        let dir = try temporaryDirectory()
        let box = try SecretBox(keyData: SecretBox.generateKeyData())
        let database = try await backend.open(path: dir + "/db/x.db", box: box)
        let store = database.store
        #expect(try await store.appliedMigrations() == Migrations.all.map(\.version))
        let tables = try await store.database.run { db in
            let sql =
                db.dialect == .sqlite
                ? "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                : "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name"
            return try db.query(sql).compactMap { $0[0].text }
        }
        for table in [
            "schema_migrations", "providers", "provider_keys", "model_configs", "model_providers", "api_keys", "request_logs",
            "provider_health", "provider_stats",
        ] {
            #expect(tables.contains(table), "missing table \(table)")
        }
        #expect(try await store.migrate() == [])
        let reopened: SQLStore
        if backend == .sqlite {
            await store.close()
            reopened = try await openStore(path: dir + "/db/x.db", box: box)
        } else {
            reopened = try await database.reopen()
        }
        #expect(try await reopened.migrate() == [])
        #expect(try await reopened.appliedMigrations() == Migrations.all.map(\.version))
        await reopened.close()
        await database.drop()
    }

    @Test(arguments: TestBackend.all) func syncStoresTheFileAndLoadsItBack(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        let settings = sampleSettings()
        let loaded = try await store.syncFromFile(settings)
        #expect(loaded.providers.map(\.config.name) == ["az", "demo", "gem", "openai"])
        // Every provider setting survives the database, not only the common ones.
        for provider in settings.providers {
            #expect(loaded.providers.first { $0.config.name == provider.name }?.config == provider, "\(provider.name)")
        }
        let openai = try #require(loaded.providers.first { $0.config.name == "openai" })
        #expect(openai.config.apiKeys == ["sk-first-secret-1111", "sk-second-secret-2222"])
        #expect(openai.config.headers == ["OpenAI-Organization": "org-1"])
        #expect(openai.keys.map(\.last4) == ["1111", "2222"])
        #expect(openai.source == .file)
        let demo = try #require(loaded.providers.first { $0.config.name == "demo" })
        #expect(demo.config.mock?.reply == "hi" && demo.config.mock?.latencyMs == 5)
        let model = try #require(loaded.models.first)
        #expect(model.config == settings.models[0])
        let key = try #require(loaded.keys.first)
        #expect(key.keyHash == KeyHashing.sha256Hex("sk-client-team-a-0000"))
        #expect(key.config.key == "", "the client secret is never loaded back")
        #expect(key.config.models == ["fast"] && key.config.rpm == 600 && key.config.budgetUSD == 12.5)
        #expect(key.config.metadata == ["team": "a"] && key.config.expiresAt == settings.keys[0].expiresAt)
        await database.drop()
    }

    @Test(arguments: TestBackend.all) func secretsAreEncryptedAtRest(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        _ = try await store.syncFromFile(sampleSettings())
        let dump = try await store.database.run { db in
            var text = ""
            for table in ["providers", "provider_keys", "api_keys"] {
                let sql: String
                switch table {
                case "providers": sql = "SELECT * FROM providers"
                case "provider_keys": sql = "SELECT * FROM provider_keys"
                default: sql = "SELECT * FROM api_keys"
                }
                for row in try db.query(sql) { text += row.compactMap(\.text).joined(separator: "|") + "\n" }
            }
            return text
        }
        #expect(!dump.contains("sk-first-secret"))
        #expect(!dump.contains("sk-second-secret"))
        #expect(!dump.contains("sk-client-team-a"))
        #expect(dump.contains("v1:"))
        await database.drop()
    }

    @Test(arguments: TestBackend.all) func resyncUpdatesRemovesAndKeepsApiEntities(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        _ = try await store.syncFromFile(sampleSettings())
        // An entity created through the admin API.
        _ = try await store.database.run { db in
            try db.query(
                "INSERT INTO providers (id, name, type, base_url, settings, enabled, source, created_at, updated_at) VALUES ('p-api', 'api-provider', 'openai', 'http://x', '{}', 1, 'api', 0, 0)"
            )
        }
        var settings = sampleSettings()
        settings.providers[0].apiKeys = ["sk-second-secret-2222", "sk-third-secret-3333"]
        settings.models[0].targets.removeLast()
        settings.providers.removeLast()
        settings.keys = []
        let loaded = try await store.syncFromFile(settings)
        #expect(loaded.providers.map(\.config.name) == ["api-provider", "az", "gem", "openai"])
        #expect(loaded.providers.first { $0.config.name == "openai" }?.keys.map(\.last4).sorted() == ["2222", "3333"])
        #expect(loaded.models.first?.config.targets.count == 1)
        #expect(loaded.keys.isEmpty)
        await database.drop()
    }

    @Test(arguments: TestBackend.all) func providerStillUsedByAnApiModelIsKept(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        _ = try await store.syncFromFile(sampleSettings())
        try await store.database.run { db in
            let providerID = try db.query("SELECT id FROM providers WHERE name = 'demo'")[0][0]
            try db.query("INSERT INTO model_configs (id, name, source, created_at, updated_at) VALUES ('m-api', 'api-model', 'api', 0, 0)")
            try db.query(
                "INSERT INTO model_providers (id, model_id, provider_id, upstream_model, weight, priority, position) VALUES ('mp', 'm-api', ?, 'x', 1, 0, 0)",
                [providerID])
        }
        var settings = sampleSettings()
        settings.providers.removeLast()
        settings.models[0].targets.removeLast()
        let loaded = try await store.syncFromFile(settings)
        #expect(loaded.providers.contains { $0.config.name == "demo" })
        #expect(loaded.models.map(\.config.name).sorted() == ["api-model", "fast"])
        await database.drop()
    }

    @Test(arguments: TestBackend.all) func logsPageNewestFirstByCursor(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        let entries = (0..<25).map { i in
            RequestLogEntry(
                id: String(format: "id-%03d", i), requestID: "r\(i)", timestampMillis: 1_000 + Int64(i / 2), keyID: "k", keyName: "k",
                apiStyle: "openai", model: i % 2 == 0 ? "even" : "odd", provider: "p", stream: false, status: i % 5 == 0 ? 502 : 200,
                attempts: 1, latencyMillis: 3, promptTokens: i, completionTokens: 1)
        }
        try await store.insertLogs(entries)
        #expect(try await store.countLogs() == 25)
        var query = RequestLogQuery()
        query.limit = 10
        var seen: [String] = []
        while true {
            let page = try await store.logs(query)
            seen += page.map(\.id)
            guard page.count == query.limit, let last = page.last else { break }
            query.cursor = RequestLogCursor(timestampMillis: last.timestampMillis, id: last.id)
        }
        #expect(seen == entries.map(\.id).reversed())
        var filtered = RequestLogQuery()
        filtered.model = "even"
        filtered.status = 502
        #expect(try await store.logs(filtered).map(\.id) == ["id-020", "id-010", "id-000"])
        // A request id finds its row (and, with other filters, only if they agree).
        var byRequest = RequestLogQuery()
        byRequest.requestID = "r7"
        #expect(try await store.logs(byRequest).map(\.id) == ["id-007"])
        byRequest.model = "even"
        #expect(try await store.logs(byRequest).isEmpty)
        byRequest.requestID = "r8"
        byRequest.status = 200
        byRequest.sinceMillis = 1_004
        #expect(try await store.logs(byRequest).map(\.id) == ["id-008"])
        byRequest = RequestLogQuery()
        byRequest.requestID = "r77"
        #expect(try await store.logs(byRequest).isEmpty)
        // Found through its index, whatever else is asked (not by walking a model's rows).
        byRequest.model = "even"
        byRequest.cursor = RequestLogCursor(timestampMillis: 2_000, id: "id-999")
        let (sql, parameters) = LogRows.select(byRequest)
        let plan = try await store.database.run { db in
            switch db.dialect {
            case .sqlite: try db.query("EXPLAIN QUERY PLAN " + sql, parameters).compactMap { $0.last?.text }.joined(separator: "; ")
            case .mysql: try db.query("EXPLAIN " + sql, parameters).compactMap { $0.count > 5 ? $0[5].text : nil }.joined(separator: "; ")
            }
        }
        #expect(plan.contains("request_id"), "\(plan)")
        let one = try #require(try await store.logs(RequestLogQuery()).first)
        #expect(one == entries.last)
        await database.drop()
    }

    @Test(arguments: TestBackend.all) func healthRecordsUpsert(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        try await store.saveHealth(HealthRecord(provider: "p", upstreamModel: "m", state: "open", consecutiveFailures: 3, lastError: "boom", updatedAtMillis: 1))
        try await store.saveHealth(HealthRecord(provider: "p", upstreamModel: "m", state: "closed", consecutiveFailures: 0, lastError: nil, updatedAtMillis: 2))
        #expect(try await store.loadHealth() == [HealthRecord(provider: "p", upstreamModel: "m", state: "closed", consecutiveFailures: 0, lastError: nil, updatedAtMillis: 2)])
        #expect(await store.isReady())
        await database.drop()
        #expect(await store.isReady() == false)
    }
}

struct DatabaseURLTests {
    @Test func parsesEveryForm() throws {
        #expect(try DatabaseURL(parsing: "sqlite:///var/lib/orch.db") == .sqlite(path: "/var/lib/orch.db"))
        #expect(try DatabaseURL(parsing: "sqlite://./data/orchestrator.db") == .sqlite(path: "./data/orchestrator.db"))
        #expect(try DatabaseURL(parsing: "sqlite://data/x.db") == .sqlite(path: "data/x.db"))
        #expect(try DatabaseURL(parsing: "sqlite::memory:") == .sqlite(path: ":memory:"))
        guard case .mysql(let m) = try DatabaseURL(parsing: "mysql://orch:p%40ss@127.0.0.1:3307/gateway?pool=4") else {
            Issue.record("expected mysql")
            return
        }
        #expect(m.user == "orch" && m.password == "p@ss" && m.host == "127.0.0.1" && m.port == 3307 && m.database == "gateway" && m.poolSize == 4)
        #expect(!"\(try DatabaseURL(parsing: "mysql://u:secret@h/db"))".contains("secret"))
        for bad in ["postgres://x/y", "sqlite://", "mysql://host", "mysql:///db", "nonsense"] {
            #expect(throws: DatabaseURL.Invalid.self, "\(bad)") { try DatabaseURL(parsing: bad) }
        }
    }

    @Test func secretKeyFileIsCreatedPrivateAndReused() throws {
        let dir = try temporaryDirectory()
        let first = try SecretKeySource.resolve(environmentValue: nil, databasePath: dir + "/sub/orch.db")
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/sub/orch.db.key")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let second = try SecretKeySource.resolve(environmentValue: nil, databasePath: dir + "/sub/orch.db")
        #expect(first.keyData == second.keyData && first.keyData.count == 32)
        let env = SecretBox.generateKeyData()
        #expect(try SecretKeySource.resolve(environmentValue: env.base64EncodedString(), databasePath: nil).keyData == env)
        #expect(throws: DatabaseURL.Invalid.self) { try SecretKeySource.resolve(environmentValue: "c2hvcnQ=", databasePath: nil) }
    }

    @Test func mysqlClientLibraryIsLinked() {
        #expect(!MySQLClientLibrary.version.isEmpty)
    }
}

/// What a client/server database adds: long and non-ASCII values, concurrent writers on
/// the pool, constraint errors, lost connections.
struct SQLBackendBehaviourTests {
    @Test(arguments: TestBackend.all) func longAndUnicodeValuesRoundTrip(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let body = String(repeating: "héllo wörld 🚀 ", count: 12_000)
        var entry = RequestLogEntry(
            id: "long-1", requestID: "r", timestampMillis: 9, keyID: "k", keyName: "ключ", apiStyle: "openai", model: "m",
            provider: "p", stream: true, status: 200, attempts: 1, latencyMillis: 3, promptTokens: Int(Int32.max) + 5,
            completionTokens: 1)
        entry.requestBody = body
        entry.costMicros = 9_000_000_000_123
        try await database.store.insertLogs([entry])
        let loaded = try #require(try await database.store.logs(RequestLogQuery()).first)
        #expect(loaded.requestBody == body)
        #expect(loaded.keyName == "ключ")
        #expect(loaded.promptTokens == Int(Int32.max) + 5)
        #expect(loaded.costMicros == 9_000_000_000_123)
        #expect(loaded == entry)
        await database.drop()
    }

    /// Rows go in several to a statement: 75 rows (two full statements and a short one)
    /// and rows whose bodies split a batch by size all read back as they were written,
    /// every field, empty and set.
    @Test(arguments: TestBackend.all) func rowsGoInSeveralToAStatement(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        func row(_ i: Int, body: String? = nil) -> RequestLogEntry {
            var entry = RequestLogEntry(
                id: String(format: "m-%04d", i), requestID: "q\(i)", timestampMillis: 1_000 + Int64(i), keyID: "k\(i % 3)",
                keyName: "name \(i)", apiStyle: i % 2 == 0 ? "openai" : "anthropic", model: "model-\(i % 4)",
                provider: i % 5 == 0 ? nil : "p\(i % 2)", upstreamModel: i % 7 == 0 ? nil : "u\(i)", stream: i % 2 == 1,
                status: i % 9 == 0 ? 502 : 200, attempts: 1 + i % 3, latencyMillis: Int64(i), promptTokens: i,
                completionTokens: 2 * i)
            entry.timeToFirstTokenMillis = i % 2 == 1 ? Int64(i / 2) : nil
            entry.errorMessage = i % 9 == 0 ? "upstream said \(i)" : nil
            entry.costMicros = Int64(i) * 1_000
            entry.requestBody = body
            if i % 4 == 0 {
                entry.attemptDetails = [AttemptRecord(provider: "p", model: "u", keyID: nil, status: 502, error: "try \(i)", latencyMs: 4)]
            }
            return entry
        }
        let rows = (0..<75).map { row($0) }
        try await store.insertLogs(rows)
        #expect(try await store.countLogs() == 75)
        for entry in rows {
            #expect(try await store.log(id: entry.id) == entry)
        }
        // 600 KB bodies: a statement takes one of them, then the next row starts another.
        let body = String(repeating: "b", count: 600_000)
        let large = (100..<104).map { row($0, body: body) } + [row(104)]
        try await store.insertLogs(large)
        #expect(try await store.countLogs() == 80)
        for entry in large {
            #expect(try await store.log(id: entry.id) == entry)
        }
        await database.drop()
    }

    /// A batch is one transaction: a row that fails (a duplicate id) fails the whole
    /// batch and leaves none of it, and the statement is usable again afterwards.
    @Test(arguments: TestBackend.all) func aFailedBatchLeavesNoRowAndTheNextOneLands(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        func row(_ id: String) -> RequestLogEntry {
            RequestLogEntry(
                id: id, requestID: "r-" + id, timestampMillis: 5, keyID: "k", keyName: "k", apiStyle: "openai", model: "m",
                stream: false, status: 200, attempts: 1, latencyMillis: 1)
        }
        try await store.insertLogs([row("a"), row("b")])
        await #expect(throws: (any Error).self) { try await store.insertLogs([row("c"), row("a"), row("d")]) }
        #expect(try await store.countLogs() == 2)
        try await store.insertLogs([row("c"), row("d"), row("e")])
        #expect(try await store.logs(RequestLogQuery()).map(\.id).sorted() == ["a", "b", "c", "d", "e"])
        #expect(try await store.log(id: "d")?.requestID == "r-d")
        // Failing in a later statement of the batch (past the first 32 rows) takes the
        // earlier statements' rows back too.
        let long = (0..<40).map { row("long-\($0)") }
        await #expect(throws: (any Error).self) { try await store.insertLogs(long + [row("b")] + [row("after")]) }
        #expect(try await store.countLogs() == 5)
        try await store.insertLogs(long)
        #expect(try await store.countLogs() == 45)
        await database.drop()
    }

    @Test(arguments: TestBackend.all) func concurrentWritersAllLand(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        try await withThrowingTaskGroup(of: Void.self) { group in
            for batch in 0..<20 {
                group.addTask {
                    let entries = (0..<10).map { i in
                        RequestLogEntry(
                            id: "b\(batch)-\(i)", requestID: "r", timestampMillis: Int64(batch), keyID: "k", keyName: "k",
                            apiStyle: "openai", model: "m", stream: false, status: 200, attempts: 1, latencyMillis: 1)
                    }
                    try await store.insertLogs(entries)
                }
            }
            try await group.waitForAll()
        }
        #expect(try await store.countLogs() == 200)
        await database.drop()
    }

    @Test(arguments: TestBackend.all) func uniqueViolationsAreRecognised(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let insert = "INSERT INTO providers (id, name, type, base_url, settings, enabled, source, created_at, updated_at) VALUES (?, 'same', 'openai', 'http://x', '{}', 1, 'api', 0, 0)"
        try await database.store.database.run { db in _ = try db.query(insert, [.text("p1")]) }
        do {
            try await database.store.database.run { db in _ = try db.query(insert, [.text("p2")]) }
            Issue.record("a duplicate name must fail")
        } catch let error as DatabaseError {
            #expect(error.isUniqueViolation, "\(error)")
        }
        // A failed statement inside a transaction rolls the whole transaction back.
        do {
            try await database.store.database.run { db in
                try db.transaction {
                    _ = try db.query(insert.replacingOccurrences(of: "'same'", with: "'other'"), [.text("p3")])
                    _ = try db.query(insert, [.text("p4")])
                }
            }
        } catch {}
        let names = try await database.store.database.run { db in try db.query("SELECT name FROM providers ORDER BY name").compactMap { $0[0].text } }
        #expect(names == ["same"])
        await database.drop()
    }

    @Test func aLostMySQLConnectionIsReplaced() async throws {
        guard TestBackend.all.contains(.mysql) else { return }
        let database = try await TestBackend.mysql.open()
        let store = database.store
        let id = try await store.database.run { db in try db.query("SELECT CONNECTION_ID()")[0][0].int ?? 0 }
        let admin = try MySQLConnection(try #require(database.location))
        try admin.execute("KILL CONNECTION \(id)")
        // The next use finds the connection gone, reconnects and succeeds.
        #expect(try await store.countLogs() == 0)
        #expect(await store.isReady())
        await database.drop()
    }

    @Test func aWrongMySQLPasswordFailsClearly() async throws {
        guard let text = TestBackend.mysqlURL, case .mysql(var location) = try DatabaseURL(parsing: text) else { return }
        location.password = "definitely-wrong"
        do {
            _ = try await SQLStore.open(
                mysql: location, secretBox: try SecretBox(keyData: SecretBox.generateKeyData()), logger: Logger(label: "t"))
            Issue.record("expected a failure")
        } catch let error as DatabaseError {
            #expect(error.message.contains("cannot connect"))
            #expect(!error.message.contains("definitely-wrong"))
        }
    }
}

/// Reading one log row, and retention deleting old rows in batches.
struct LogRetentionTests {
    struct FixedClock: GatewayClock {
        var epochMillis: Int64
        var now: ContinuousClock.Instant { .now }
        func sleep(until deadline: ContinuousClock.Instant) async throws { try await Task.sleep(until: deadline) }
    }

    static func entry(_ i: Int, at millis: Int64) -> RequestLogEntry {
        RequestLogEntry(
            id: String(format: "r-%04d", i), requestID: "q\(i)", timestampMillis: millis, keyID: "k", keyName: "k", apiStyle: "openai",
            model: "m", stream: false, status: 200, attempts: 1, latencyMillis: 1)
    }

    @Test(arguments: TestBackend.all) func oldRowsGoInBatchesAndNewOnesStay(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        let day: Int64 = 86_400_000
        let now: Int64 = 100 * day
        // 1,203 rows from 40 days ago, 5 from yesterday.
        try await store.insertLogs((0..<1203).map { Self.entry($0, at: now - 40 * day + Int64($0)) })
        try await store.insertLogs((0..<5).map { Self.entry(5000 + $0, at: now - day) })
        var one = try #require(try await store.log(id: "r-5001"))
        #expect(one.requestID == "q5001")
        one.id = "none"
        #expect(try await store.log(id: "none") == nil)
        let retention = LogRetention(
            store: store, retentionDays: 30, logger: Logger(label: "t"), batchSize: 500, pause: .zero,
            clock: FixedClock(epochMillis: now))
        #expect(await retention.sweep() == 1203)
        #expect(try await store.countLogs() == 5)
        #expect(await retention.sweep() == 0)
        await database.drop()
    }
}

struct LogRowLimitTests {
    @Test(arguments: TestBackend.all) func oversizedClientValuesAreCutNotRefused(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        var entry = RequestLogEntry(
            id: "big-1", requestID: "r", timestampMillis: 1, keyID: "k", keyName: "k", apiStyle: "openai",
            model: String(repeating: "m", count: 300) + "é", stream: false, status: 404, attempts: 0, latencyMillis: 1)
        entry.errorMessage = String(repeating: "é", count: 70_000)
        entry.attemptDetails = (0..<400).map { _ in
            AttemptRecord(provider: "p", model: "m", keyID: nil, status: 500, error: String(repeating: "x", count: 5_000), latencyMs: 1)
        }
        try await database.store.insertLogs([entry])
        let stored = try #require(try await database.store.log(id: "big-1"))
        #expect(stored.model.count == 255)
        #expect((stored.errorMessage?.utf8.count ?? 0) <= 60_000 && stored.errorMessage?.hasPrefix("éé") == true)
        #expect(!stored.attemptDetails.isEmpty && stored.attemptDetails.count < 400)
        #expect(stored.attemptDetails.allSatisfy { $0.error?.utf8.count == 2_000 })
        // Attempts whose errors fit are kept as they are.
        var small = RequestLogEntry(
            id: "small-1", requestID: "r", timestampMillis: 2, keyID: "k", keyName: "k", apiStyle: "openai", model: "m",
            stream: false, status: 200, attempts: 2, latencyMillis: 1)
        small.attemptDetails = [
            AttemptRecord(provider: "p", model: "m", keyID: "key-1", status: 503, error: "upstream \"busy\" é", latencyMs: 7),
            AttemptRecord(provider: "q", model: "m2", keyID: nil, status: 200, error: nil, latencyMs: 3),
        ]
        try await database.store.insertLogs([small])
        #expect(try await database.store.log(id: "small-1")?.attemptDetails == small.attemptDetails)
        await database.drop()
    }
}

struct DatabaseURLPasswordTests {
    @Test func percentEncodedPasswordsDecodeOnce() throws {
        guard case .mysql(let m) = try DatabaseURL(parsing: "mysql://orch:100%25%40sure@db:3306/x") else {
            Issue.record("expected mysql")
            return
        }
        #expect(m.password == "100%@sure")
    }
}

struct SQLiteBindingTests {
    /// Text goes to SQLite by pointer and length: empty text stays text (a null pointer
    /// would bind NULL), and long, multi-byte and embedded-NUL text arrive byte for byte.
    @Test func textParametersRoundTripExactly() throws {
        let connection = try SQLiteConnection(path: ":memory:")
        let long = String(repeating: "é🚀 model-name ", count: 40)
        let samples: [String] = ["", "a", "exactly-15-byte", "sixteen-bytes-xx", long, "nul\u{0}inside"]
        for text in samples {
            let rows = try connection.query("SELECT ?, typeof(?), length(CAST(? AS BLOB))", [.text(text), .text(text), .text(text)])
            #expect(rows.count == 1)
            #expect(rows.first?[1] == .text("text"), "\(text.debugDescription) bound as \(String(describing: rows.first?[1]))")
            #expect(rows.first?[2] == .int(Int64(text.utf8.count)))
            if !text.contains("\u{0}") { #expect(rows.first?[0] == .text(text)) }
        }
    }

    /// Text parameters are bound in place from one buffer per run of a statement: every
    /// kind of value must come back as it went in, row after row of the same statement.
    @Test func valuesRoundTripThroughOneStatementRunMany() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute("CREATE TABLE t (n INTEGER, a TEXT, b TEXT, c REAL, d TEXT)")
        let rows: [[SQLValue]] = [
            [.int(1), .text(""), .text("short"), .double(1.5), .null],
            [.int(2), .text("héllo 🌍, ünïcode"), .null, .double(-2), .text("")],
            [.int(3), .text(String(repeating: "x", count: 100_000)), .text("a\u{0}b"), .null, .text("sixteen bytes!!!")],
            [.int(4), .null, .null, .null, .null],
        ]
        for row in rows { try db.query("INSERT INTO t VALUES (?, ?, ?, ?, ?)", row) }
        // Another statement in between, then the first one again.
        #expect(try db.query("SELECT COUNT(*) FROM t WHERE a = ?", [.text("")]) == [[.int(1)]])
        try db.query("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [.int(5), .text("again"), .text(""), .double(0), .text("z")])

        let back = try db.query("SELECT n, a, b, c, d FROM t ORDER BY n", [])
        #expect(back.count == 5)
        #expect(back[0] == [.int(1), .text(""), .text("short"), .double(1.5), .null])
        #expect(back[1] == [.int(2), .text("héllo 🌍, ünïcode"), .null, .double(-2), .text("")])
        #expect(back[2][1] == .text(String(repeating: "x", count: 100_000)))
        #expect(back[2][4] == .text("sixteen bytes!!!"))
        #expect(back[3] == [.int(4), .null, .null, .null, .null])
        #expect(back[4] == [.int(5), .text("again"), .text(""), .double(0), .text("z")])
        // An embedded NUL is stored whole (its length was bound), though reading a
        // column as a C string stops at it.
        #expect(try db.query("SELECT length(CAST(b AS BLOB)) FROM t WHERE n = 3", []) == [[.int(3)]])
        // Empty text is text, not NULL.
        #expect(try db.query("SELECT COUNT(*) FROM t WHERE d = ''", []) == [[.int(1)]])
    }
}

import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OrchestratorCore
import OrchestratorTesting
import Testing

@testable import Persistence
@testable import orchestratord

/// The gateway on a real MariaDB (`ORCH_TEST_MYSQL_URL`, started by the test command):
/// two instances migrating and syncing one database at once, both serving, every
/// request logged in MySQL.
@Suite(.serialized)
struct MySQLIntegrationTests {
    static let secretKey = SecretBox.generateKeyData().base64EncodedString()

    /// A new database on the test server, dropped after `body`.
    static func withDatabase(_ body: (String) async throws -> Void) async throws {
        guard let text = ProcessInfo.processInfo.environment["ORCH_TEST_MYSQL_URL"], !text.isEmpty,
            case .mysql(var location) = try DatabaseURL(parsing: text)
        else { return }
        let admin = try MySQLConnection(location)
        location.database = "orch_i_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try admin.execute("CREATE DATABASE \(location.database) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        defer { try? admin.execute("DROP DATABASE \(location.database)") }
        let url = "mysql://\(location.user):\(location.password)@\(location.host):\(location.port)/\(location.database)?pool=4"
        try await body(url)
    }

    static func config(_ url: String) -> String {
        """
        database: { url: "\(url)" }
        keys:
          - { name: tester, key: "sk-test-client-000111" }
        providers:
          - { name: demo, type: mock, api_keys: ["sk-upstream-secret-9999"], mock: { reply: "Hello from MySQL land." } }
        models:
          - name: demo-model
            targets: [{ provider: demo, model: mock-1 }]
        """
    }

    @Test func twoInstancesShareOneDatabase() async throws {
        try await Self.withDatabase { url in
            let environment = ["ORCH_SECRET_KEY": Self.secretKey]
            // Both start at once: migrations and the file sync are serialized by the database.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        try await withGateway(Self.config(url), environment: environment) { gateway, base in
                            for _ in 0..<5 {
                                let reply = try await Client.post(
                                    base + "/v1/chat/completions", #"{"model":"demo-model","messages":[{"role":"user","content":"hi"}]}"#)
                                #expect(reply.status == 200)
                                #expect(reply.body.contains("Hello from MySQL land."))
                            }
                            let ready = try await Client.get(base + "/readyz", headers: [])
                            #expect(ready.status == 200)
                            try await waitForLogRows(gateway, 5)
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Reopened after both stopped: one schema, one synced provider, every row.
            let (store, _) = try await SQLStore.open(
                url: try DatabaseURL(parsing: url), secretKey: Self.secretKey, logger: Logger(label: "t"))
            #expect(try await store.appliedMigrations() == Migrations.all.map(\.version))
            #expect(try await store.countLogs() == 10)
            let stored = try await store.loadConfiguration()
            #expect(stored.providers.map(\.config.name) == ["demo"])
            #expect(stored.providers.first?.config.apiKeys == ["sk-upstream-secret-9999"])
            let raw = try await store.database.run { db in try db.query("SELECT secret_enc FROM provider_keys").compactMap { $0[0].text } }
            #expect(raw.count == 1 && !raw[0].contains("sk-upstream-secret"))
            await store.close()
        }
    }

    @Test func anAdminChangeOnOneInstanceReachesTheOther() async throws {
        try await Self.withDatabase { url in
            let environment = ["ORCH_SECRET_KEY": Self.secretKey]
            let config = Self.config(url) + "\nadmin: { key: \"admin-key-for-mysql-tests-01\" }\n"
            try await withGateway(config, environment: environment) { _, first in
                try await withGateway(config, environment: environment) { _, second in
                    let admin = [("Authorization", "Bearer admin-key-for-mysql-tests-01")]
                    // A model created on the first instance…
                    let created = try await AdminIntegrationTests.send(
                        .POST, first + "/admin/models", #"{"name":"shared-model","targets":[{"provider":"demo","model":"m"}]}"#,
                        headers: admin)
                    #expect(created.status == 201)
                    // …routes on the second within about a second (its watcher polls the version).
                    let served = try await eventually {
                        try await Client.post(
                            second + "/v1/chat/completions", #"{"model":"shared-model","messages":[{"role":"user","content":"hi"}]}"#
                        ).status == 200
                    }
                    #expect(served, "the second instance never saw the new model")
                    // A key disabled on the second instance is refused by the first too.
                    let disabled = try await AdminIntegrationTests.send(.PATCH, second + "/admin/keys/tester", #"{"enabled":false}"#, headers: admin)
                    #expect(disabled.status == 200)
                    let refused = try await eventually {
                        try await Client.post(
                            first + "/v1/chat/completions", #"{"model":"demo-model","messages":[{"role":"user","content":"hi"}]}"#
                        ).status == 401
                    }
                    #expect(refused, "the first instance still admits the disabled key")
                }
            }
        }
    }

    @Test func mysqlNeedsASharedSecretKey() async throws {
        try await Self.withDatabase { url in
            do {
                try await withGateway(Self.config(url), environment: [:]) { _, _ in }
                Issue.record("expected a start-up error")
            } catch {
                #expect("\(error)".contains("ORCH_SECRET_KEY is required"))
            }
        }
    }
}

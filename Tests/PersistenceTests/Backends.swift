import Foundation
import Logging
import OrchestratorCore
import Testing

@testable import Persistence

/// The database backends every repository test runs against: SQLite always, MySQL
/// (MariaDB) when `ORCH_TEST_MYSQL_URL` names a server (the test command starts one).
enum TestBackend: String, CustomTestStringConvertible, Sendable {
    case sqlite
    case mysql

    var testDescription: String { rawValue }

    static var mysqlURL: String? {
        ProcessInfo.processInfo.environment["ORCH_TEST_MYSQL_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    static var all: [TestBackend] { mysqlURL == nil ? [.sqlite] : [.sqlite, .mysql] }

    /// A fresh, empty database of this backend with the schema migrated: an in-memory
    /// (or `path`) SQLite database, or a new MySQL database dropped by ``TestDatabase/drop()``.
    func open(path: String? = nil, box: SecretBox? = nil) async throws -> TestDatabase {
        let box = try box ?? SecretBox(keyData: SecretBox.generateKeyData())
        switch self {
        case .sqlite:
            let store = try await SQLStore.open(path: path ?? ":memory:", secretBox: box, logger: Logger(label: "test"))
            return TestDatabase(store: store, box: box, location: nil)
        case .mysql:
            let location = try Self.freshMySQLDatabase()
            let store = try await SQLStore.open(mysql: location, secretBox: box, logger: Logger(label: "test"))
            return TestDatabase(store: store, box: box, location: location)
        }
    }

    /// Creates `orch_t_<random>` on the test server and returns where it is.
    static func freshMySQLDatabase() throws -> DatabaseURL.MySQLLocation {
        guard let text = mysqlURL, case .mysql(var location) = try DatabaseURL(parsing: text) else {
            throw DatabaseError(code: -1, message: "ORCH_TEST_MYSQL_URL is not a mysql:// URL")
        }
        let admin = try MySQLConnection(location)
        location.database = "orch_t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        location.poolSize = 4
        try admin.execute("CREATE DATABASE \(location.database) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        return location
    }
}

/// A store on a database made for one test.
struct TestDatabase {
    let store: SQLStore
    let box: SecretBox
    /// The MySQL database, dropped at the end.
    let location: DatabaseURL.MySQLLocation?

    /// Closes the store and removes a MySQL database.
    func drop() async {
        await store.close()
        guard let location else { return }
        if let admin = try? MySQLConnection(location) { try? admin.execute("DROP DATABASE \(location.database)") }
    }

    /// The same database opened again (migrations must find nothing to do).
    func reopen() async throws -> SQLStore {
        guard let location else { throw DatabaseError(code: -1, message: "reopen an SQLite store by path") }
        return try await SQLStore.open(mysql: location, secretBox: box, logger: Logger(label: "test"))
    }
}

struct BackendAvailabilityTests {
    /// In CI the MySQL backend must be tested, not skipped.
    @Test func mysqlIsTestedInCI() {
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            #expect(TestBackend.mysqlURL != nil, "CI=true but ORCH_TEST_MYSQL_URL is not set: the MySQL tests would be skipped")
        }
    }
}

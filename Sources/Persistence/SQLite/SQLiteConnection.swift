import CSQLite
import Foundation
import OrchestratorCore

/// A value bound to or read from a SQL statement.
enum SQLValue: Sendable, Hashable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)

    init(_ value: String?) { self = value.map { .text($0) } ?? .null }
    init(_ value: Int64?) { self = value.map { .int($0) } ?? .null }
    init(_ value: Int?) { self = value.map { .int(Int64($0)) } ?? .null }
    init(_ value: Bool) { self = .int(value ? 1 : 0) }

    var int: Int64? {
        switch self {
        case .int(let v): return v
        case .double(let v): return Int64(v)
        case .text(let s): return Int64(s)
        case .null: return nil
        }
    }

    var text: String? {
        switch self {
        case .text(let s): return s
        case .int(let v): return String(v)
        case .double(let v): return String(v)
        case .null: return nil
        }
    }

    var bool: Bool { (int ?? 0) != 0 }
}

/// A failure reported by the database.
struct DatabaseError: Error, CustomStringConvertible, Sendable {
    var code: Int32
    var message: String
    var description: String { "database error \(code): \(message)" }

    /// Whether a value did not fit its column (MySQL: too long, out of range, not valid).
    var isDataError: Bool { [1406, 1264, 1366, 1292].contains(code) || code == SQLITE_TOOBIG }

    /// Whether a UNIQUE constraint was violated (SQLite's constraint error, MySQL's 1062).
    var isUniqueViolation: Bool { code == SQLITE_CONSTRAINT || code == 1062 || message.contains("UNIQUE") }
}

/// One SQLite connection. Not thread-safe: ``SQLiteDatabase`` confines it to one thread.
final class SQLiteConnection: SQLConnection {
    let dialect: SQLDialect = .sqlite
    private var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    /// The statement prepared or found last.
    private var last: (sql: String, statement: OpaquePointer)?

    /// Configures the library once, before the first connection opens. The gateway
    /// reads no SQLite memory statistics, and keeping them costs a global lock per
    /// allocation (about 14 allocations per request-log row).
    private static let configured: Void = { _ = orch_sqlite3_disable_memstatus() }()

    init(path: String) throws {
        Self.configured
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close_v2(db)
            throw DatabaseError(code: rc, message: "\(message) (\(path))")
        }
        handle = db
        sqlite3_busy_timeout(db, 5000)
        try execute("PRAGMA foreign_keys = ON")
        if path != ":memory:" {
            try execute("PRAGMA journal_mode = WAL")
            try execute("PRAGMA synchronous = NORMAL")
        }
    }

    /// While `on`, every statement gives up the core every
    /// ``BackgroundScheduling/yieldEvery`` virtual-machine steps (see there).
    func yieldPeriodically(_ on: Bool) {
        #if os(Linux)
        orch_sqlite3_yield_every(handle, on ? BackgroundScheduling.yieldEvery : 0)
        #endif
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    /// Runs SQL without results (DDL, pragmas, transaction control).
    func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &error)
        if rc != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? lastMessage
            sqlite3_free(error)
            throw DatabaseError(code: rc, message: message)
        }
    }

    /// Runs a prepared statement with bound parameters; returns the rows it produced.
    @discardableResult
    func query(_ sql: String, _ parameters: [SQLValue]) throws -> [[SQLValue]] {
        let statement = try prepared(sql)
        // Every text parameter is copied once into one buffer and bound in place
        // (`SQLITE_STATIC`): bound as transient, SQLite would allocate, copy and free
        // each value for every row a log batch inserts. The buffer outlives the
        // statement's use of it: the bindings are cleared before it goes.
        var textBytes = 1  // never empty: an empty text needs a non-null address
        for case .text(let text) in parameters { textBytes += text.utf8.count }
        var arena = [UInt8]()
        arena.reserveCapacity(textBytes)
        for case .text(let text) in parameters {
            // A native string's bytes in one copy; appending the `UTF8View` itself went
            // through the generic sequence path.
            if text.utf8.withContiguousStorageIfAvailable({ arena.append(contentsOf: $0) }) == nil {
                arena.append(contentsOf: text.utf8)
            }
        }
        arena.append(0)
        return try arena.withUnsafeBufferPointer { arena in
            defer {
                sqlite3_reset(statement)
                sqlite3_clear_bindings(statement)
            }
            let base = UnsafeRawPointer(arena.baseAddress!).assumingMemoryBound(to: CChar.self)
            var offset = 0
            for (i, value) in parameters.enumerated() {
                let index = Int32(i + 1)
                let rc: Int32
                switch value {
                case .null: rc = sqlite3_bind_null(statement, index)
                case .int(let v): rc = sqlite3_bind_int64(statement, index, v)
                case .double(let v): rc = sqlite3_bind_double(statement, index, v)
                case .text(let text):
                    let count = text.utf8.count
                    // No destructor: `SQLITE_STATIC`.
                    rc = sqlite3_bind_text(statement, index, base + offset, Int32(count), nil)
                    offset += count
                }
                if rc != SQLITE_OK { throw DatabaseError(code: rc, message: lastMessage) }
            }
            return try rows(of: statement)
        }
    }

    /// Steps `statement` to its end, collecting the rows.
    private func rows(of statement: OpaquePointer) throws -> [[SQLValue]] {
        var rows: [[SQLValue]] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw DatabaseError(code: rc, message: lastMessage) }
            let columns = sqlite3_column_count(statement)
            var row: [SQLValue] = []
            row.reserveCapacity(Int(columns))
            for c in 0..<columns {
                switch sqlite3_column_type(statement, c) {
                case SQLITE_NULL: row.append(.null)
                case SQLITE_INTEGER: row.append(.int(sqlite3_column_int64(statement, c)))
                case SQLITE_FLOAT: row.append(.double(sqlite3_column_double(statement, c)))
                default:
                    if let text = sqlite3_column_text(statement, c) {
                        row.append(.text(String(cString: text)))
                    } else {
                        row.append(.null)
                    }
                }
            }
            rows.append(row)
        }
        return rows
    }

    /// Runs `body` in a transaction (`BEGIN IMMEDIATE`: takes the write lock up front).
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try committing(after: "BEGIN IMMEDIATE", body)
    }

    func withNamedLock<T>(_ name: String, timeout: Int, _ body: () throws -> T) throws -> T {
        try body()
    }

    var changes: Int { Int(sqlite3_changes(handle)) }

    private var lastMessage: String { String(cString: sqlite3_errmsg(handle)) }

    private func prepared(_ sql: String) throws -> OpaquePointer {
        // A batch runs the same statement for each of its rows: the same literal, which
        // compares equal without reading it, where the cache would hash all of it.
        if let last, last.sql == sql { return last.statement }
        if let statement = statements[sql] {
            last = (sql, statement)
            return statement
        }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw DatabaseError(code: rc, message: "\(lastMessage) in: \(sql)") }
        statements[sql] = statement
        last = (sql, statement)
        return statement
    }
}

import CMySQL
import Foundation

/// One connection to a MySQL or MariaDB server through the system client library
/// (MariaDB Connector/C). Not thread-safe: ``MySQLDatabase`` lends it to one thread
/// at a time.
///
/// Every statement with values is a server-side prepared statement with bound
/// parameters (cached per connection); results are read through bound buffers.
final class MySQLConnection: SQLConnection {
    let dialect: SQLDialect = .mysql
    private var handle: UnsafeMutablePointer<MYSQL>
    private var statements: [String: UnsafeMutablePointer<MYSQL_STMT>] = [:]
    private let location: DatabaseURL.MySQLLocation
    private var inTransaction = false
    /// Named locks held: a reconnect would silently drop them, so none happens meanwhile.
    private var locksHeld = 0
    /// When the connection was last used, for the health check before reuse.
    var lastUsed = ContinuousClock.now

    /// Client error numbers that mean the connection is gone (`CR_SERVER_GONE_ERROR`,
    /// `CR_SERVER_LOST`, `CR_CONNECTION_ERROR`, `ER_CONNECTION_KILLED`).
    static let connectionLost: Set<UInt32> = [2006, 2013, 2002, 1927]

    init(_ location: DatabaseURL.MySQLLocation) throws {
        self.location = location
        handle = try Self.connect(location)
    }

    deinit {
        for statement in statements.values { mysql_stmt_close(statement) }
        mysql_close(handle)
    }

    private static func connect(_ location: DatabaseURL.MySQLLocation) throws -> UnsafeMutablePointer<MYSQL> {
        guard let handle = mysql_init(nil) else { throw DatabaseError(code: -1, message: "mysql_init failed (out of memory)") }
        var connectTimeout: UInt32 = 5
        var ioTimeout: UInt32 = 30
        mysql_options(handle, MYSQL_OPT_CONNECT_TIMEOUT, &connectTimeout)
        mysql_options(handle, MYSQL_OPT_READ_TIMEOUT, &ioTimeout)
        mysql_options(handle, MYSQL_OPT_WRITE_TIMEOUT, &ioTimeout)
        mysql_options(handle, MYSQL_SET_CHARSET_NAME, "utf8mb4")
        guard
            mysql_real_connect(
                handle, location.host, location.user, location.password, location.database, UInt32(location.port), nil, 0)
                != nil
        else {
            let error = DatabaseError(
                code: Int32(mysql_errno(handle)),
                message: "cannot connect to mysql://\(location.host):\(location.port)/\(location.database): \(String(cString: mysql_error(handle)))")
            mysql_close(handle)
            throw error
        }
        // Strict: a value that does not fit is an error, not silently truncated.
        let session = "SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', time_zone = '+00:00'"
        if mysql_real_query(handle, session, UInt(session.utf8.count)) != 0 {
            let error = DatabaseError(code: Int32(mysql_errno(handle)), message: String(cString: mysql_error(handle)))
            mysql_close(handle)
            throw error
        }
        return handle
    }

    /// Replaces a lost connection with a new one (prepared statements die with it).
    func reconnect() throws {
        for statement in statements.values { mysql_stmt_close(statement) }
        statements = [:]
        let fresh = try Self.connect(location)
        mysql_close(handle)
        handle = fresh
        inTransaction = false
    }

    /// Whether the server still answers (`mysql_ping`).
    func isAlive() -> Bool { mysql_ping(handle) == 0 }

    func execute(_ sql: String) throws {
        try retryingLostConnection {
            if mysql_real_query(handle, sql, UInt(sql.utf8.count)) != 0 { throw connectionError() }
            // Statements like SELECT GET_LOCK() return a result set that must be read.
            if let result = mysql_store_result(handle) { mysql_free_result(result) }
        }
    }

    @discardableResult
    func query(_ sql: String, _ parameters: [SQLValue]) throws -> [[SQLValue]] {
        try retryingLostConnection { try run(sql, parameters) }
    }

    func transaction<T>(_ body: () throws -> T) throws -> T {
        // No reconnect-and-retry inside, COMMIT included: on a new connection the
        // transaction's earlier statements would be silently lost.
        inTransaction = true
        defer { inTransaction = false }
        return try committing(after: "START TRANSACTION", body)
    }

    /// `GET_LOCK`, asked in waits shorter than the read timeout, so a long wait is never
    /// mistaken for a lost connection.
    func withNamedLock<T>(_ name: String, timeout: Int, _ body: () throws -> T) throws -> T {
        let deadline = ContinuousClock.now.advanced(by: .seconds(timeout))
        while true {
            let wait = max(1, min(10, Int(ContinuousClock.now.duration(to: deadline).components.seconds)))
            if try query("SELECT GET_LOCK(?, ?)", [.text(name), .int(Int64(wait))]).first?.first?.int == 1 { break }
            if ContinuousClock.now >= deadline {
                throw DatabaseError(code: -1, message: "another instance held the lock \(name) for \(timeout) s")
            }
        }
        locksHeld += 1
        defer {
            locksHeld -= 1
            _ = try? query("SELECT RELEASE_LOCK(?)", [.text(name)])
        }
        return try body()
    }

    /// Runs `body`; when the connection turns out to be lost outside a transaction (a
    /// server restart, an idle timeout), reconnects and runs it once more.
    private func retryingLostConnection<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError
            where !inTransaction && locksHeld == 0 && Self.connectionLost.contains(UInt32(bitPattern: error.code))
        {
            try reconnect()
            return try body()
        }
    }

    private func connectionError() -> DatabaseError {
        DatabaseError(code: Int32(mysql_errno(handle)), message: String(cString: mysql_error(handle)))
    }

    private func statementError(_ statement: UnsafeMutablePointer<MYSQL_STMT>, sql: String) -> DatabaseError {
        DatabaseError(code: Int32(mysql_stmt_errno(statement)), message: "\(String(cString: mysql_stmt_error(statement))) in: \(sql)")
    }

    private func prepared(_ sql: String) throws -> UnsafeMutablePointer<MYSQL_STMT> {
        if let statement = statements[sql] { return statement }
        guard let statement = mysql_stmt_init(handle) else { throw connectionError() }
        if mysql_stmt_prepare(statement, sql, UInt(sql.utf8.count)) != 0 {
            let error = statementError(statement, sql: sql)
            mysql_stmt_close(statement)
            throw error
        }
        statements[sql] = statement
        return statement
    }

    /// Executes a prepared statement and reads its rows.
    private func run(_ sql: String, _ parameters: [SQLValue]) throws -> [[SQLValue]] {
        let statement = try prepared(sql)
        let count = Int(mysql_stmt_param_count(statement))
        guard count == parameters.count else {
            throw DatabaseError(code: -1, message: "\(parameters.count) values for \(count) placeholders in: \(sql)")
        }
        let buffers = ParameterBuffers(parameters)
        defer { buffers.deallocate() }
        if count > 0, mysql_stmt_bind_param(statement, buffers.binds) != 0 { throw statementError(statement, sql: sql) }
        if mysql_stmt_execute(statement) != 0 {
            let error = statementError(statement, sql: sql)
            // A statement the server forgot (connection lost) must be prepared anew.
            if Self.connectionLost.contains(UInt32(bitPattern: error.code)) { statements[sql] = nil; mysql_stmt_close(statement) }
            throw error
        }
        defer { mysql_stmt_free_result(statement) }
        guard let metadata = mysql_stmt_result_metadata(statement) else { return [] }
        defer { mysql_free_result(metadata) }
        if mysql_stmt_store_result(statement) != 0 { throw statementError(statement, sql: sql) }
        let columns = Int(mysql_num_fields(metadata))
        guard columns > 0, let fields = mysql_fetch_fields(metadata) else { return [] }
        let results = ResultBuffers(columns: columns, types: (0..<columns).map { fields[$0].type })
        defer { results.deallocate() }
        if mysql_stmt_bind_result(statement, results.binds) != 0 { throw statementError(statement, sql: sql) }
        var rows: [[SQLValue]] = []
        while true {
            let rc = mysql_stmt_fetch(statement)
            if rc == MYSQL_NO_DATA { break }
            guard rc == 0 || rc == MYSQL_DATA_TRUNCATED else { throw statementError(statement, sql: sql) }
            var row: [SQLValue] = []
            row.reserveCapacity(columns)
            for c in 0..<columns { row.append(try results.value(c, statement: statement, sql: sql)) }
            rows.append(row)
        }
        return rows
    }
}

/// Bound parameter values, in memory the C library reads during execution.
private struct ParameterBuffers {
    let binds: UnsafeMutablePointer<MYSQL_BIND>
    private let lengths: UnsafeMutablePointer<UInt>
    private var storage: [UnsafeMutableRawPointer] = []
    private let count: Int

    init(_ values: [SQLValue]) {
        count = max(1, values.count)
        binds = .allocate(capacity: count)
        binds.initialize(repeating: MYSQL_BIND(), count: count)
        lengths = .allocate(capacity: count)
        lengths.initialize(repeating: 0, count: count)
        for (i, value) in values.enumerated() {
            switch value {
            case .null:
                binds[i].buffer_type = MYSQL_TYPE_NULL
            case .int(let v):
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
                buffer.storeBytes(of: v, as: Int64.self)
                storage.append(buffer)
                binds[i].buffer_type = MYSQL_TYPE_LONGLONG
                binds[i].buffer = buffer
            case .double(let v):
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
                buffer.storeBytes(of: v, as: Double.self)
                storage.append(buffer)
                binds[i].buffer_type = MYSQL_TYPE_DOUBLE
                binds[i].buffer = buffer
            case .text(let s):
                let bytes = Array(s.utf8)
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
                bytes.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(buffer), byteCount: bytes.count) }
                storage.append(buffer)
                lengths[i] = UInt(bytes.count)
                binds[i].buffer_type = MYSQL_TYPE_STRING
                binds[i].buffer = buffer
                binds[i].buffer_length = UInt(bytes.count)
                binds[i].length = lengths + i
            }
        }
    }

    func deallocate() {
        for buffer in storage { buffer.deallocate() }
        binds.deallocate()
        lengths.deallocate()
    }
}

/// Buffers a result row is fetched into: integers and doubles as such, everything
/// else as bytes (longer values are fetched again at their full length).
private struct ResultBuffers {
    enum Kind { case integer, double, bytes }

    let binds: UnsafeMutablePointer<MYSQL_BIND>
    private let kinds: [Kind]
    private let lengths: UnsafeMutablePointer<UInt>
    private let nulls: UnsafeMutablePointer<my_bool>
    private let errors: UnsafeMutablePointer<my_bool>
    private let buffers: [UnsafeMutableRawPointer]
    /// The bytes kept per text column before a second fetch is needed.
    static let inlineBytes = 512

    init(columns: Int, types: [enum_field_types]) {
        binds = .allocate(capacity: columns)
        binds.initialize(repeating: MYSQL_BIND(), count: columns)
        lengths = .allocate(capacity: columns)
        lengths.initialize(repeating: 0, count: columns)
        nulls = .allocate(capacity: columns)
        nulls.initialize(repeating: 0, count: columns)
        errors = .allocate(capacity: columns)
        errors.initialize(repeating: 0, count: columns)
        var kinds: [Kind] = []
        var buffers: [UnsafeMutableRawPointer] = []
        for (c, type) in types.enumerated() {
            let kind: Kind
            switch type {
            case MYSQL_TYPE_TINY, MYSQL_TYPE_SHORT, MYSQL_TYPE_LONG, MYSQL_TYPE_LONGLONG, MYSQL_TYPE_INT24, MYSQL_TYPE_YEAR:
                kind = .integer
            case MYSQL_TYPE_FLOAT, MYSQL_TYPE_DOUBLE:
                kind = .double
            default:
                kind = .bytes
            }
            kinds.append(kind)
            let size = kind == .bytes ? Self.inlineBytes : 8
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
            buffers.append(buffer)
            binds[c].buffer = buffer
            binds[c].buffer_length = UInt(size)
            binds[c].buffer_type =
                kind == .integer ? MYSQL_TYPE_LONGLONG : kind == .double ? MYSQL_TYPE_DOUBLE : MYSQL_TYPE_STRING
            binds[c].length = lengths + c
            binds[c].is_null = nulls + c
            binds[c].error = errors + c
        }
        self.kinds = kinds
        self.buffers = buffers
    }

    func value(_ c: Int, statement: UnsafeMutablePointer<MYSQL_STMT>, sql: String) throws -> SQLValue {
        if nulls[c] != 0 { return .null }
        switch kinds[c] {
        case .integer:
            return .int(buffers[c].load(as: Int64.self))
        case .double:
            return .double(buffers[c].load(as: Double.self))
        case .bytes:
            let length = Int(lengths[c])
            if length <= Self.inlineBytes {
                return .text(String(decoding: UnsafeRawBufferPointer(start: buffers[c], count: length), as: UTF8.self))
            }
            // Longer than the inline buffer: fetch the column again into one that fits.
            let full = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 1)
            defer { full.deallocate() }
            var bind = MYSQL_BIND()
            var fetchedLength: UInt = 0
            bind.buffer_type = MYSQL_TYPE_STRING
            bind.buffer = full
            bind.buffer_length = UInt(length)
            return try withUnsafeMutablePointer(to: &fetchedLength) { lengthPointer in
                bind.length = lengthPointer
                if mysql_stmt_fetch_column(statement, &bind, UInt32(c), 0) != 0 {
                    throw DatabaseError(code: Int32(mysql_stmt_errno(statement)), message: "\(String(cString: mysql_stmt_error(statement))) in: \(sql)")
                }
                return .text(String(decoding: UnsafeRawBufferPointer(start: full, count: min(length, Int(lengthPointer.pointee))), as: UTF8.self))
            }
        }
    }

    func deallocate() {
        for buffer in buffers { buffer.deallocate() }
        binds.deallocate()
        lengths.deallocate()
        nulls.deallocate()
        errors.deallocate()
    }
}

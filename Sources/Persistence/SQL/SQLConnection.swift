/// One database connection, whichever the backend: what the stores' SQL runs on.
///
/// All SQL the stores send is written once, with `?` placeholders and bound values;
/// what differs between SQLite and MySQL is rendered by ``SQLDialect``.
protocol SQLConnection: AnyObject {
    var dialect: SQLDialect { get }

    /// Runs SQL without parameters or results (DDL, session settings, transaction control).
    func execute(_ sql: String) throws

    /// Runs a prepared statement with bound parameters; returns the rows it produced.
    @discardableResult
    func query(_ sql: String, _ parameters: [SQLValue]) throws -> [[SQLValue]]

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T

    /// Runs `body` holding a lock named `name` across every instance on this database,
    /// waiting up to `timeout` seconds for it. SQLite needs none (its `BEGIN IMMEDIATE`
    /// transactions already serialize writers): there it just runs `body`.
    func withNamedLock<T>(_ name: String, timeout: Int, _ body: () throws -> T) throws -> T
}

extension SQLConnection {
    @discardableResult
    func query(_ sql: String) throws -> [[SQLValue]] {
        try query(sql, [])
    }

    /// `begin`, then `body`: `COMMIT` when it returns, `ROLLBACK` when it throws.
    func committing<T>(after begin: String, _ body: () throws -> T) throws -> T {
        try execute(begin)
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// ``withNamedLock(_:timeout:_:)`` waiting up to a minute.
    func withNamedLock<T>(_ name: String, _ body: () throws -> T) throws -> T {
        try withNamedLock(name, timeout: 60, body)
    }
}

/// A database: connections confined to threads of their own (every call into the C
/// libraries blocks), lent to one body at a time.
protocol SQLDatabase: Sendable {
    var dialect: SQLDialect { get }

    /// Runs `body` with a connection on a database thread.
    func run<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T

    /// Runs `body` like ``run(_:)``, as work that may wait for every other thread of the
    /// machine (the request-log inserts).
    func runBackground<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T

    /// Closes every connection and stops the threads.
    func close() async
}

extension SQLDatabase {
    func runBackground<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await run(body)
    }
}

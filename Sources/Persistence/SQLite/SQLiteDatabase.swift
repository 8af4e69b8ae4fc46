import Logging
import NIOPosix
import OrchestratorCore

/// A SQLite database whose connection lives on its own thread.
///
/// Every `sqlite3_*` call blocks, so none may run on an event loop or the Swift
/// concurrency pool (two threads here). All work is sent to a one-thread pool that owns
/// the single writer connection and bridged back with a continuation.
final class SQLiteDatabase: SQLDatabase {
    let dialect: SQLDialect = .sqlite
    private let pool: NIOThreadPool
    private let box: ConnectionBox
    /// Set where the database thread may run inserts as `SCHED_IDLE` (see ``BackgroundScheduling``).
    let background: BackgroundScheduling?

    /// Confined to `pool`'s only thread; never touched elsewhere.
    private final class ConnectionBox: @unchecked Sendable {
        var connection: SQLiteConnection?
    }

    /// Opens (creating if needed) the database at `path` (`:memory:` for a private in-memory one).
    static func open(path: String) async throws -> SQLiteDatabase {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let box = ConnectionBox()
        let threadID: Int32
        do {
            threadID = try await pool.runIfActive {
                box.connection = try SQLiteConnection(path: path)
                return BackgroundScheduling.currentThreadID
            }
        } catch {
            try? await pool.shutdownGracefully()
            throw error
        }
        let background = await BackgroundScheduling.probe() ? BackgroundScheduling(threadID: threadID) : nil
        return SQLiteDatabase(pool: pool, box: box, background: background)
    }

    private init(pool: NIOThreadPool, box: ConnectionBox, background: BackgroundScheduling?) {
        self.pool = pool
        self.box = box
        self.background = background
    }

    /// Runs `body` with the connection on the database thread.
    func run<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await run(yielding: false, body)
    }

    /// Runs `body` on the database thread; `yielding`, its statements give up the core
    /// every ``BackgroundScheduling/yieldEvery`` steps.
    private func run<T: Sendable>(
        yielding: Bool, _ body: @escaping @Sendable (any SQLConnection) throws -> T
    ) async throws -> T {
        let box = self.box
        return try await pool.runIfActive {
            guard let connection = box.connection else { throw DatabaseError(code: -1, message: "database is closed") }
            guard yielding else { return try body(connection) }
            connection.yieldPeriodically(true)
            defer { connection.yieldPeriodically(false) }
            return try body(connection)
        }
    }

    /// Runs `body` as `SCHED_IDLE` where the process may (see ``BackgroundScheduling``),
    /// moved back to normal priority once it has taken ``BackgroundScheduling/promoteAfter``;
    /// either way its statements give up the core every few hundred steps.
    func runBackground<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        guard let background else { return try await run(yielding: true, body) }
        let watchdog = Task {
            try await Task.sleep(for: BackgroundScheduling.promoteAfter)
            background.leave()
        }
        defer { watchdog.cancel() }
        return try await run(yielding: true) { connection in
            background.enter()
            defer { background.leave() }
            return try body(connection)
        }
    }

    /// Closes the connection and stops the thread.
    func close() async {
        let box = self.box
        _ = try? await pool.runIfActive { box.connection = nil }
        try? await pool.shutdownGracefully()
    }
}

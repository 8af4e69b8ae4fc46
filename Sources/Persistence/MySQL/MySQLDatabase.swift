import Logging
import NIOPosix
import OrchestratorCore
import Synchronization

/// A pool of MySQL connections, each used by one of the pool's threads at a time.
///
/// The client library blocks, so no call runs on an event loop or the Swift
/// concurrency pool: work goes to a thread pool as large as the connection pool
/// (`?pool=N` in the URL, default 10), which therefore bounds the connections too. A
/// connection idle for a while is pinged before reuse and replaced when the server
/// no longer answers; one that failed mid-use is dropped.
final class MySQLDatabase: SQLDatabase {
    let dialect: SQLDialect = .mysql
    private let location: DatabaseURL.MySQLLocation
    private let threads: NIOThreadPool
    private let idle: Mutex<[ConnectionBox]>
    private let logger: Logger
    /// Idle longer than this, a connection is pinged before it is lent.
    static let pingAfter: Duration = .seconds(30)

    /// A connection moving between the pool's threads, never used by two at once.
    private final class ConnectionBox: @unchecked Sendable {
        let connection: MySQLConnection
        init(_ connection: MySQLConnection) { self.connection = connection }
    }

    /// Opens the pool with one connection made at once, so a wrong URL fails at start.
    static func open(_ location: DatabaseURL.MySQLLocation, logger: Logger) async throws -> MySQLDatabase {
        let threads = NIOThreadPool(numberOfThreads: location.poolSize)
        threads.start()
        do {
            let first = try await threads.runIfActive { ConnectionBox(try MySQLConnection(location)) }
            return MySQLDatabase(location: location, threads: threads, first: first, logger: logger)
        } catch {
            try? await threads.shutdownGracefully()
            throw error
        }
    }

    private init(location: DatabaseURL.MySQLLocation, threads: NIOThreadPool, first: ConnectionBox, logger: Logger) {
        self.location = location
        self.threads = threads
        self.idle = Mutex([first])
        self.logger = logger
    }

    func run<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await threads.runIfActive { [self] in
            let box = try checkOut()
            do {
                let result = try body(box.connection)
                box.connection.lastUsed = .now
                idle.withLock { $0.append(box) }
                return result
            } catch let error as DatabaseError where MySQLConnection.connectionLost.contains(UInt32(bitPattern: error.code)) {
                // Broken for good (it already tried to reconnect once): not returned to the pool.
                throw error
            } catch {
                box.connection.lastUsed = .now
                idle.withLock { $0.append(box) }
                throw error
            }
        }
    }

    /// An idle connection (pinged if it rested long), or a new one.
    private func checkOut() throws -> ConnectionBox {
        if let box = idle.withLock({ $0.popLast() }) {
            if box.connection.lastUsed.duration(to: .now) > Self.pingAfter, !box.connection.isAlive() {
                logger.notice("reconnecting to MySQL", metadata: ["host": "\(location.host)"])
                try box.connection.reconnect()
            }
            return box
        }
        return ConnectionBox(try MySQLConnection(location))
    }

    func close() async {
        _ = try? await threads.runIfActive { [self] in idle.withLock { $0.removeAll() } }
        try? await threads.shutdownGracefully()
    }
}

import Foundation
import Testing

@testable import Persistence

/// The SQLite thread runs request-log inserts as `SCHED_IDLE` where the process may
/// leave that class again, and everything else at normal priority.
@Suite struct BackgroundSchedulingTests {
    @Test func insertsRunIdleAndEverythingElseNormally() async throws {
        let database = try await SQLiteDatabase.open(path: ":memory:")
        let probed = await BackgroundScheduling.probe()
        #expect((database.background != nil) == probed)
        #if os(Linux)
        // The CI runs as root, which may always come back from SCHED_IDLE.
        if getuid() == 0 { #expect(probed) }
        #endif
        let duringInsert = try await database.runBackground { _ in BackgroundScheduling.isIdle() }
        #expect(duringInsert == probed)
        let afterwards = try await database.run { _ in BackgroundScheduling.isIdle() }
        #expect(!afterwards)
        await database.close()
    }

    @Test func aLongInsertIsMovedBackToNormalPriority() async throws {
        let database = try await SQLiteDatabase.open(path: ":memory:")
        guard database.background != nil else {
            #expect(!(try await database.runBackground { _ in BackgroundScheduling.isIdle() }))
            await database.close()
            return
        }
        // Well past the watchdog: the insert is no longer idle when it ends.
        let idleAtStart = try await database.runBackground { _ in BackgroundScheduling.isIdle() }
        #expect(idleAtStart)
        let idleAtEnd = try await database.runBackground { _ -> Bool in
            let deadline = Date().addingTimeInterval(1)
            while Date() < deadline, BackgroundScheduling.isIdle() { usleep(5_000) }
            return BackgroundScheduling.isIdle()
        }
        #expect(!idleAtEnd)
        await database.close()
    }

    /// A background statement gives up its core every few hundred steps and still
    /// runs to its end with the right result; so does the next ordinary one.
    @Test func aYieldingStatementRunsToItsEnd() async throws {
        let database = try await SQLiteDatabase.open(path: ":memory:")
        let sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) SELECT count(*), sum(i) FROM n"
        let background = try await database.runBackground { db in try db.query(sql, []) }
        #expect(background.first?.first?.int == 200_000)
        #expect(background.first?.last?.int == 20_000_100_000)
        let ordinary = try await database.run { db in try db.query(sql, []) }
        #expect(ordinary.first?.first?.int == 200_000)
        await database.close()
    }

    @Test func logInsertsStillWriteEveryRow() async throws {
        let store = try await openStore()
        try await store.insertLogs((0..<50).map(entry), backlog: 0)
        try await store.insertLogs((50..<80).map(entry), backlog: 500)
        try await store.insertLogs((80..<90).map(entry))
        #expect(try await store.countLogs() == 90)
    }
}

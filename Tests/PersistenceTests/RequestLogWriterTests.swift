import Logging
import MetricsTestKit
import OrchestratorCore
import Synchronization
import Testing

@testable import Persistence

/// An inserter that can be slowed down or made to fail.
final class ControlledInserter: LogBatchInserter {
    let batches = Mutex<[[RequestLogEntry]]>([])
    let failuresLeft: Mutex<Int>
    let delay: Duration

    init(failures: Int = 0, delay: Duration = .zero) {
        self.failuresLeft = Mutex(failures)
        self.delay = delay
    }

    struct Failure: Error {}

    func insertLogs(_ entries: [RequestLogEntry]) async throws {
        if delay > .zero { try await Task.sleep(for: delay) }
        let fail = failuresLeft.withLock { left -> Bool in
            if left > 0 {
                left -= 1
                return true
            }
            return false
        }
        if fail { throw Failure() }
        batches.withLock { $0.append(entries) }
    }

    var rows: [RequestLogEntry] { batches.withLock { $0.flatMap { $0 } } }
}

func entry(_ i: Int) -> RequestLogEntry {
    RequestLogEntry(
        requestID: "r\(i)", timestampMillis: Int64(i), keyID: "k", keyName: "k", apiStyle: "openai", model: "m", stream: false,
        status: 200, attempts: 1, latencyMillis: 1)
}

struct RequestLogWriterTests {
    @Test func writesEverythingInBatchesAndFlushesOnStop() async throws {
        let inserter = ControlledInserter(delay: .milliseconds(2))
        var configuration = RequestLogWriter.Configuration()
        configuration.batchSize = 50
        let writer = RequestLogWriter(inserter: inserter, configuration: configuration, logger: Logger(label: "t"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await writer.run() }
            await withTaskGroup(of: Void.self) { producers in
                for i in 0..<1000 { producers.addTask { await writer.record(entry(i)) } }
            }
            writer.beginStopping()
            try await group.waitForAll()
        }
        #expect(inserter.rows.count == 1000)
        #expect(Set(inserter.rows.map(\.requestID)).count == 1000)
        #expect(inserter.batches.withLock { $0.allSatisfy { $0.count <= 50 } })
        #expect(writer.rowsWritten == 1000)
    }

    /// The inserter learns how many rows wait behind each batch: a writer that is behind
    /// must not write as background work.
    @Test func eachBatchCarriesTheBacklogBehindIt() async throws {
        final class BacklogRecorder: LogBatchInserter {
            let backlogs = Mutex<[Int]>([])
            let rows = Mutex<[String]>([])
            func insertLogs(_ entries: [RequestLogEntry]) async throws { Issue.record("called without the backlog") }
            func insertLogs(_ entries: [RequestLogEntry], backlog: Int) async throws {
                backlogs.withLock { $0.append(backlog) }
                rows.withLock { $0 += entries.map(\.requestID) }
            }
        }
        let inserter = BacklogRecorder()
        var configuration = RequestLogWriter.Configuration()
        configuration.batchSize = 50
        let writer = RequestLogWriter(inserter: inserter, configuration: configuration, logger: Logger(label: "t"))
        // Queued before the writer runs: four batches' worth.
        for i in 0..<200 { await writer.record(entry(i)) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await writer.run() }
            writer.beginStopping()
            try await group.waitForAll()
        }
        #expect(inserter.backlogs.withLock { $0 } == [150, 100, 50, 0])
        // A batch cut from a longer queue takes its head; the rest stays queued, in order.
        #expect(inserter.rows.withLock { $0 } == (0..<200).map { "r\($0)" })
        #expect(writer.rowsWritten == 200)
    }

    @Test func aTrickleOfRowsIsGatheredIntoFewTransactions() async throws {
        let inserter = ControlledInserter()
        var configuration = RequestLogWriter.Configuration()
        // Long enough that a loaded machine still sends the 20 rows (40 ms of sleeps)
        // within one period.
        configuration.linger = .seconds(1)
        let writer = RequestLogWriter(inserter: inserter, configuration: configuration, logger: Logger(label: "t"))
        var trickle = Duration.zero
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await writer.run() }
            // One row at a time, as requests finish at one connection.
            let start = ContinuousClock.now
            for i in 0..<20 {
                await writer.record(entry(i))
                try await Task.sleep(for: .milliseconds(2))
            }
            trickle = ContinuousClock.now - start
            writer.beginStopping()
            try await group.waitForAll()
        }
        #expect(inserter.rows.map(\.requestID) == (0..<20).map { "r\($0)" })
        // Three transactions when the rows come within one period, as they do unless the
        // machine is loaded enough to stretch the 2 ms sleeps past the linger; then one
        // more per period they took. A writer that ignored its linger would make 20.
        let periods = Int((trickle / configuration.linger).rounded(.down))
        #expect(inserter.batches.withLock { $0.count } <= 3 + periods, "rows of one linger period share a transaction")
    }

    @Test func aFullQueueMakesProducersWaitInsteadOfDropping() async throws {
        let inserter = ControlledInserter(delay: .milliseconds(20))
        var configuration = RequestLogWriter.Configuration()
        configuration.capacity = 5
        configuration.batchSize = 2
        let writer = RequestLogWriter(inserter: inserter, configuration: configuration, logger: Logger(label: "t"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await writer.run() }
            await withTaskGroup(of: Void.self) { producers in
                for i in 0..<40 {
                    producers.addTask { await writer.record(entry(i)) }
                }
            }
            writer.beginStopping()
            try await group.waitForAll()
        }
        #expect(inserter.rows.count == 40)
        #expect(writer.pending == 0)
    }

    @Test func failedInsertsAreRetriedWithoutLosingRows() async throws {
        let inserter = ControlledInserter(failures: 2)
        let writer = RequestLogWriter(inserter: inserter, logger: Logger(label: "t"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await writer.run() }
            for i in 0..<10 { await writer.record(entry(i)) }
            writer.beginStopping()
            try await group.waitForAll()
        }
        #expect(inserter.rows.count == 10)
    }

    @Test func cancellationStopsTheWriterAfterFlushing() async throws {
        let inserter = ControlledInserter()
        let writer = RequestLogWriter(inserter: inserter, logger: Logger(label: "t"))
        let task = Task { try await writer.run() }
        for i in 0..<20 { await writer.record(entry(i)) }
        task.cancel()
        try await task.value
        #expect(inserter.rows.count == 20)
    }

    @Test func theQueueGaugeCountsUnwrittenRowsAndClimbsWhileInsertsFail() async throws {
        /// Fails its first two inserts, and a request completes during each failure.
        final class OutageInserter: LogBatchInserter {
            let inner = ControlledInserter(failures: 2)
            let writer = Mutex<RequestLogWriter?>(nil)
            let arrivals = Mutex(100)

            func insertLogs(_ entries: [RequestLogEntry]) async throws {
                do {
                    try await inner.insertLogs(entries)
                } catch {
                    let next = arrivals.withLock { value -> Int in
                        value += 1
                        return value
                    }
                    if let writer = writer.withLock({ $0 }) { await writer.record(entry(next)) }
                    throw error
                }
            }
        }
        let metrics = TestMetrics()
        let inserter = OutageInserter()
        var configuration = RequestLogWriter.Configuration()
        configuration.batchSize = 5
        let writer = RequestLogWriter(inserter: inserter, configuration: configuration, logger: Logger(label: "t"), metrics: metrics)
        inserter.writer.withLock { $0 = writer }
        // Eight rows queued before the writer starts, and asked to stop at once, so it
        // writes in full batches without lingering: the gauge's values are exact.
        for i in 0..<8 { await writer.record(entry(i)) }
        writer.beginStopping()
        try await writer.run()

        let gauge = try metrics.expectGauge("orchestrator_log_queue_rows")
        // 8 unwritten as the first batch of 5 is taken; one more arrives during each of
        // the two failed inserts (9, 10); the second batch of 5 (5); then empty (0).
        #expect(gauge.values == [8, 9, 10, 5, 0])
        #expect(inserter.inner.rows.count == 10)
        #expect(try metrics.expectCounter("orchestrator_log_rows_written_total").totalValue == 10)
    }

    @Test func rowsRecordedAfterStopAreStillWritten() async throws {
        let inserter = ControlledInserter()
        let writer = RequestLogWriter(inserter: inserter, logger: Logger(label: "t"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await writer.run() }
            writer.beginStopping()
            try await group.waitForAll()
        }
        await writer.record(entry(1))
        #expect(inserter.rows.count == 1)
    }

    @Test func writesToARealSQLiteStore() async throws {
        let store = try await openStore()
        let writer = RequestLogWriter(inserter: store, logger: Logger(label: "t"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await writer.run() }
            for i in 0..<300 { await writer.record(entry(i)) }
            writer.beginStopping()
            try await group.waitForAll()
        }
        #expect(try await store.countLogs() == 300)
        await store.close()
    }
}

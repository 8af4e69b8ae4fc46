import Benchmark
import Foundation
import Logging
import OrchestratorCore
import Persistence

/// Per-request logging: the request id, the access-log line, and the request-log row
/// through the batching writer into a counting sink or a real SQLite database.
func requestLogBenchmarks() {
    Benchmark("request id: RequestID.generate") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(RequestID.generate())
        }
    }

    // The access line the front door logs for every request (`FrontDoor.logAccess` plus
    // the handler's request metadata), as the daemon's stderr handler renders it.
    let handlerMetadata: Logger.Metadata = [
        "request.id": "0193a1b2c3d4e5f6a7b8c9d0e1f20304", "model": "bench", "key": "bench",
    ]
    let eventMetadata: Logger.Metadata = [
        "http.method": "POST", "http.path": "/v1/chat/completions", "http.status": "200", "duration_ms": "0.412",
    ]
    for format in [LogLine.Format.text, .json] {
        Benchmark("log line: render access line (\(format.rawValue))") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(
                    LogLine.render(
                        format: format, timestampMillis: 1_764_379_492_501, level: .info, label: "orchestrator",
                        message: "request", handlerMetadata: handlerMetadata, eventMetadata: eventMetadata))
            }
        }
    }

    // Rows through `RequestLogWriter` (the production sink): 1,000 rows recorded per
    // iteration, then the iteration waits until the inserter has received all of them,
    // so the numbers are per row for record + queue + batch hand-off (+ the insert).
    // The writer's `linger` is zero here so that no 20 ms gathering sleep sits in the
    // wall clock; batches still form because the producer outruns the writer. The
    // `batches` metric says how many transactions the 1,000 rows took.
    requestLogWriterBenchmark("log writer: record + batch hand-off, counting inserter, per row", sqlite: false)
    requestLogWriterBenchmark("log writer: record + batch insert into SQLite (file, WAL), per row", sqlite: true)

    // `SQLStore.insertLogs` alone: one transaction per batch, prepared statements
    // bound per row. 500 rows is the writer's largest batch; small batches are what low
    // concurrency produces with the 20 ms linger.
    for batchSize in [500, 20] {
        let database = Slot<TemporaryDatabase>()
        Benchmark(
            "sqlite: insertLogs, \(batchSize)-row transactions, per row",
            configuration: .init(metrics: HotPathMetrics.threaded, maxIterations: 100),
            closure: { benchmark in
                let store = database.current.store
                let rows = sampleRows(count: benchmark.scaledIterations.count)
                benchmark.startMeasurement()
                try await ProcessCPUTime.record(in: benchmark) {
                    var start = 0
                    while start < rows.count {
                        let end = min(start + batchSize, rows.count)
                        try await store.insertLogs(Array(rows[start..<end]))
                        start = end
                    }
                }
            },
            setup: { database.put(try await TemporaryDatabase.open()) },
            teardown: { await database.take()?.remove() })
    }
}

/// Registers a writer benchmark whose rows end in a counting inserter, which with
/// `sqlite` first inserts them into a new SQLite database.
private func requestLogWriterBenchmark(_ name: String, sqlite: Bool) {
    let running = Slot<RunningWriter>()
    Benchmark(
        name,
        configuration: .init(metrics: HotPathMetrics.threaded + [RunningWriter.batchesMetric], maxIterations: 100),
        closure: { benchmark in
            let writer = running.current
            let rows = sampleRows(count: benchmark.scaledIterations.count)
            let before = (rows: writer.inserter.rows, batches: writer.inserter.batches)
            benchmark.startMeasurement()
            await ProcessCPUTime.record(in: benchmark) {
                for row in rows {
                    await writer.writer.record(row)
                }
                await writer.inserter.waitUntil(rows: before.rows + rows.count)
            }
            benchmark.stopMeasurement()
            benchmark.measurement(RunningWriter.batchesMetric, writer.inserter.batches - before.batches)
        },
        setup: {
            var database: TemporaryDatabase?
            if sqlite { database = try await TemporaryDatabase.open() }
            running.put(RunningWriter(database: database, inserter: CountingInserter(forwardingTo: database?.store)))
        },
        teardown: { await running.take()?.stop() })
}

/// A `RequestLogWriter` running in a task of its own, as the daemon's service group runs it.
private struct RunningWriter: Sendable {
    static let batchesMetric = BenchmarkMetric.custom("batches", polarity: .prefersSmaller, useScalingFactor: false)

    let database: TemporaryDatabase?
    let inserter: CountingInserter
    let writer: RequestLogWriter
    let task: Task<Void, Never>

    init(database: TemporaryDatabase?, inserter: CountingInserter) {
        var configuration = RequestLogWriter.Configuration()
        configuration.linger = .zero
        let writer = RequestLogWriter(inserter: inserter, configuration: configuration, logger: .quietRequestLogger)
        self.database = database
        self.inserter = inserter
        self.writer = writer
        self.task = Task { try? await writer.run() }
    }

    func stop() async {
        writer.beginStopping()
        await task.value
        await database?.remove()
    }
}

/// A SQLite store in a directory of its own under the temporary directory, deleted afterwards.
private struct TemporaryDatabase: Sendable {
    let directory: URL
    let store: SQLStore

    static func open() async throws -> TemporaryDatabase {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("orchestrator-microbench-\(UUID().uuidString)")
        let store = try await SQLStore.open(
            path: directory.appendingPathComponent("requests.db").path,
            secretBox: try SecretBox(keyData: SecretBox.generateKeyData()), logger: .quietRequestLogger)
        return TemporaryDatabase(directory: directory, store: store)
    }

    func remove() async {
        await store.close()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Rows like the bench's successful chat requests (one attempt, usage, no bodies), each
/// with a new id (the table's primary key).
private func sampleRows(count: Int) -> [RequestLogEntry] {
    (0..<count).map { _ in
        RequestLogEntry(
            requestID: RequestID.generate(), timestampMillis: 1_764_379_492_501, keyID: "file:bench", keyName: "bench",
            apiStyle: "openai", model: "bench", provider: "up", upstreamModel: "gpt-4o-mini", stream: false, status: 200,
            attempts: 1, latencyMillis: 1, promptTokens: 9, completionTokens: 18,
            attemptDetails: [
                AttemptRecord(provider: "up", model: "gpt-4o-mini", keyID: "0", status: 200, error: nil, latencyMs: 0)
            ])
    }
}

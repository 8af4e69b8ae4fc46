public import Logging
public import Metrics
public import OrchestratorCore
public import ServiceLifecycle
import Synchronization

/// Something that inserts request-log rows in one transaction.
public protocol LogBatchInserter: Sendable {
    func insertLogs(_ entries: [RequestLogEntry]) async throws
    /// Inserts a batch the writer took with `backlog` more rows still queued behind it
    /// (none: the writer keeps up, and the insert may wait for every other thread).
    func insertLogs(_ entries: [RequestLogEntry], backlog: Int) async throws
}

extension LogBatchInserter {
    public func insertLogs(_ entries: [RequestLogEntry], backlog: Int) async throws {
        try await insertLogs(entries)
    }
}

/// The asynchronous, batched request-log writer.
///
/// Requests hand their row to ``record(_:)`` and go on; a single consumer writes what
/// has queued up in one transaction per batch (letting a partial batch gather for
/// ``Configuration/linger`` first). The queue is bounded: when it is full,
/// ``record(_:)`` waits for room (time spent waiting is reported as the
/// `orchestrator_log_queue_wait_seconds` timer) — rows are never dropped. A failed
/// insert is retried with backoff, keeping its rows. The `orchestrator_log_queue_rows`
/// gauge shows the rows not yet written, set by the writer (never by requests) each
/// time it takes a batch and after each failed insert, so it climbs while the database
/// is down. On graceful shutdown the writer
/// flushes everything queued before it returns; run it as a service listed *before*
/// the HTTP server so that it stops after the server has drained.
public final class RequestLogWriter: RequestLogSink, Service {
    public struct Configuration: Sendable {
        /// Rows the queue holds before producers wait.
        public var capacity = 10_000
        /// Most rows written in one transaction.
        public var batchSize = 500
        /// How long the writer lets a partial batch gather more rows before writing it:
        /// one transaction per row costs more than the request itself at low
        /// concurrency. Rows become visible at most this much later.
        public var linger: Duration = .milliseconds(20)
        public init() {}
    }

    private struct State {
        var buffer: [RequestLogEntry] = []
        var waitingProducers: [(entry: RequestLogEntry, continuation: CheckedContinuation<Bool, Never>)] = []
        var consumer: CheckedContinuation<Void, Never>?
        var stopping = false
        var stopped = false
        var written = 0
    }

    private let inserter: any LogBatchInserter
    private let configuration: Configuration
    private let logger: Logger
    private let state = Mutex(State())
    private let waitTimer: Timer
    private let writtenCounter: Counter
    private let depthGauge: Gauge

    /// - Parameter metrics: where the writer's metrics go (the process's bootstrapped
    ///   factory unless a test gives its own).
    public init(
        inserter: any LogBatchInserter, configuration: Configuration = .init(), logger: Logger,
        metrics: any MetricsFactory = MetricsSystem.factory
    ) {
        self.inserter = inserter
        self.configuration = configuration
        self.logger = logger
        self.waitTimer = Timer(label: "orchestrator_log_queue_wait_seconds", factory: metrics)
        self.writtenCounter = Counter(label: "orchestrator_log_rows_written_total", factory: metrics)
        self.depthGauge = Gauge(label: "orchestrator_log_queue_rows", factory: metrics)
    }

    /// Rows written so far (for tests and metrics).
    public var rowsWritten: Int { state.withLock { $0.written } }

    /// Rows queued and not yet written.
    public var pending: Int { state.withLock { $0.buffer.count + $0.waitingProducers.count } }

    public func record(_ entry: consuming RequestLogEntry) async {
        // Moved into the queue rather than copied: `take()` leaves nil behind instead of
        // retaining each of the row's strings.
        var row = Optional(consume entry)
        switch enqueue(&row) {
        case .queued:
            return
        case .stopped:
            // The writer has already flushed and ended: write this late row directly (a
            // request waits for it, so not as background work).
            await insertRetrying([row!], backlog: 1)
        case .full:
            await waitForRoom(row!)
        }
    }

    private enum Admission { case queued, full, stopped }

    /// Queues `row` when there is room (taking it out of `row`) and wakes the writer.
    /// Synchronous: every request's row goes through here, and an async function's
    /// frame and task allocations for the lock's closure cost more than the queueing.
    private func enqueue(_ row: inout RequestLogEntry?) -> Admission {
        let (admission, consumer) = state.withLock { state -> (Admission, CheckedContinuation<Void, Never>?) in
            if state.stopped { return (.stopped, nil) }
            if state.buffer.count < configuration.capacity && state.waitingProducers.isEmpty {
                state.buffer.append(row.take()!)
                let consumer = state.consumer
                state.consumer = nil
                return (.queued, consumer)
            }
            return (.full, nil)
        }
        consumer?.resume()
        return admission
    }

    /// A full queue: waits until the writer takes the row (or writes it directly when the
    /// writer stopped meanwhile).
    private func waitForRoom(_ entry: RequestLogEntry) async {
        let start = ContinuousClock.now
        let writerStopped = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            enum Wait { case queued(CheckedContinuation<Void, Never>?), stopped }
            let wait = state.withLock { state -> Wait in
                // The writer may have drained and stopped since the first look.
                if state.stopped { return .stopped }
                state.waitingProducers.append((entry, continuation))
                let consumer = state.consumer
                state.consumer = nil
                return .queued(consumer)
            }
            switch wait {
            case .stopped: continuation.resume(returning: true)
            case .queued(let consumer): consumer?.resume()
            }
        }
        waitTimer.recordNanoseconds(start.duration(to: .now).totalNanoseconds)
        if writerStopped { await insertRetrying([entry], backlog: 1) }
    }

    public func run() async throws {
        // Stop (after writing what is queued) on graceful shutdown, and also when the
        // service group cancels everything after its grace period.
        await withTaskCancellationOrGracefulShutdownHandler {
            await consumeUntilStopped()
        } onCancelOrGracefulShutdown: {
            self.beginStopping()
        }
    }

    /// Asks the writer to flush and stop (also triggered by graceful shutdown).
    public func beginStopping() {
        let consumer = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.stopping = true
            let consumer = state.consumer
            state.consumer = nil
            return consumer
        }
        consumer?.resume()
    }

    private func consumeUntilStopped() async {
        while true {
            let gather = state.withLock { !$0.stopping && $0.buffer.count < configuration.batchSize }
            if gather, configuration.linger > .zero {
                // Cancellation (a forced shutdown) ends the wait early; the loop goes on.
                try? await Task.sleep(for: configuration.linger)
            }
            let (batch, resumed, done, backlog) = takeBatch()
            reportDepth(inFlight: batch.count)
            for continuation in resumed { continuation.resume(returning: false) }
            if !batch.isEmpty {
                await insertRetrying(batch, backlog: backlog)
                state.withLock { $0.written += batch.count }
                writtenCounter.increment(by: batch.count)
                continue
            }
            if done { break }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if !state.buffer.isEmpty || !state.waitingProducers.isEmpty || state.stopping { return true }
                    state.consumer = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
        logger.debug("request log writer flushed", metadata: ["rows": "\(rowsWritten)"])
    }

    /// Takes up to one batch, admits waiting producers into the room it made, and tells
    /// whether the writer may stop (stopping and nothing left).
    private func takeBatch() -> ([RequestLogEntry], [CheckedContinuation<Bool, Never>], Bool, backlog: Int) {
        state.withLock { state in
            let count = min(configuration.batchSize, state.buffer.count)
            // The queue itself becomes the batch, cut down to its first `count` rows; only
            // the rows left behind (usually none) are copied to stay queued. Copying the
            // batch out instead cost a dozen retains per row while the requests' threads
            // waited for this lock.
            var batch = state.buffer
            state.buffer = Array(batch[count...])
            state.buffer.reserveCapacity(count)
            batch.removeLast(batch.count - count)
            var resumed: [CheckedContinuation<Bool, Never>] = []
            while state.buffer.count < configuration.capacity, !state.waitingProducers.isEmpty {
                let waiter = state.waitingProducers.removeFirst()
                state.buffer.append(waiter.entry)
                resumed.append(waiter.continuation)
            }
            let done = state.stopping && batch.isEmpty && state.buffer.isEmpty && state.waitingProducers.isEmpty
            if done { state.stopped = true }
            return (batch, resumed, done, state.buffer.count + state.waitingProducers.count)
        }
    }

    /// Sets the queue gauge: rows queued or waiting, plus the batch being written.
    private func reportDepth(inFlight: Int) {
        depthGauge.record(pending + inFlight)
    }

    private func insertRetrying(_ batch: [RequestLogEntry], backlog: Int) async {
        var delay = Duration.milliseconds(100)
        var triesAfterCancellation = 0
        while true {
            do {
                try await inserter.insertLogs(batch, backlog: backlog)
                return
            } catch {
                if Task.isCancelled {
                    // Forced shutdown: a few more tries, then give up loudly rather than hang.
                    triesAfterCancellation += 1
                    if triesAfterCancellation >= 3 {
                        logger.critical(
                            "request log rows lost at forced shutdown", metadata: ["rows": "\(batch.count)", "error": "\(error)"])
                        return
                    }
                    continue
                }
                logger.error(
                    "request log insert failed; retrying", metadata: ["rows": "\(batch.count)", "error": "\(error)"])
                reportDepth(inFlight: batch.count)
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }
}

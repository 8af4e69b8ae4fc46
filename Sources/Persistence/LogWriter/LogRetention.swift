public import Logging
public import OrchestratorCore
public import ServiceLifecycle

/// Deletes request-log rows older than `database.log_retention_days`: once a minute
/// after start, then every `interval`, in batches of `batchSize` rows, each its own
/// short transaction with a pause between, so the log writer is never stalled.
public struct LogRetention: Service {
    let store: any RequestLogStore
    let retention: Duration
    let interval: Duration
    let batchSize: Int
    let pause: Duration
    let logger: Logger
    let clock: any GatewayClock

    public init(
        store: any RequestLogStore, retentionDays: Int, logger: Logger, interval: Duration = .seconds(3600),
        batchSize: Int = 500, pause: Duration = .milliseconds(50), clock: any GatewayClock = SystemClock()
    ) {
        self.store = store
        self.retention = .seconds(Int64(max(1, retentionDays)) * 86_400)
        self.interval = interval
        self.batchSize = batchSize
        self.pause = pause
        self.logger = logger
        self.clock = clock
    }

    public func run() async throws {
        var wait = min(interval, .seconds(60))
        while !Task.isCancelledOrShuttingDown {
            // A graceful shutdown ends the wait at once (the writer still flushes).
            do {
                let delay = wait
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            } catch {
                return
            }
            wait = interval
            _ = await sweep()
        }
    }

    /// One pass: deletes every expired row, a batch at a time; returns how many.
    @discardableResult
    public func sweep() async -> Int {
        let cutoff = clock.epochMillis - Int64(retention.components.seconds) * 1000
        var deleted = 0
        while !Task.isCancelledOrShuttingDown {
            let count: Int
            do {
                count = try await store.deleteLogs(before: cutoff, limit: batchSize)
            } catch {
                logger.error("log retention: delete failed; retrying next round", metadata: ["error": "\(error)"])
                break
            }
            deleted += count
            if count < batchSize { break }
            try? await Task.sleep(for: pause)
        }
        if deleted > 0 { logger.info("log retention: deleted old request logs", metadata: ["rows": "\(deleted)"]) }
        return deleted
    }
}

extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
}

public import Logging
public import OrchestratorCore
public import ServiceLifecycle

/// Persists health changes off the request path: ``healthChanged(_:)`` only enqueues
/// (bounded; under a flood the oldest pending changes give way to the newest, which
/// carry the current state), and ``run()`` writes them to the ``HealthStore``. It
/// drains what is queued on graceful shutdown.
public final class HealthPersister: HealthEventSink, Service {
    private let store: any HealthStore
    private let logger: Logger
    private let stream: AsyncStream<HealthChange>
    private let continuation: AsyncStream<HealthChange>.Continuation

    public init(store: any HealthStore, logger: Logger, capacity: Int = 10_000) {
        self.store = store
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(of: HealthChange.self, bufferingPolicy: .bufferingNewest(capacity))
    }

    public func healthChanged(_ change: HealthChange) {
        continuation.yield(change)
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            for await change in stream {
                do {
                    switch change {
                    case .target(let record): try await store.saveHealth(record)
                    case .key(let record): try await store.saveKeyHealth(record)
                    }
                } catch {
                    logger.error("could not persist a health change", metadata: ["error": "\(error)"])
                }
            }
        } onGracefulShutdown: {
            self.continuation.finish()
        }
    }
}

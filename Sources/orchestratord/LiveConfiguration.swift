import Balancing
import HTTPFront
import Logging
import OrchestratorCore
import Persistence
import ServiceLifecycle
import Synchronization

/// The running configuration: swaps the engine's routing table and the key directory
/// when the stored configuration changes, whether through this instance's admin API
/// or another instance on the same database (seen by ``ConfigWatcher``). Versions only
/// move forward, so a slower reload never replaces a newer one.
final class LiveConfiguration: Sendable {
    private let engine: GatewayEngine
    private let access: AccessPolicy
    private let transport: any HTTPTransport
    private let logger: Logger
    private let applied: Mutex<Int64>

    init(engine: GatewayEngine, access: AccessPolicy, transport: any HTTPTransport, version: Int64, logger: Logger) {
        self.engine = engine
        self.access = access
        self.transport = transport
        self.logger = logger
        self.applied = Mutex(version)
    }

    var version: Int64 { applied.withLock { $0 } }

    /// Installs `configuration` if it is newer than what runs; returns whether it did.
    @discardableResult
    func install(_ configuration: StoredConfiguration, version: Int64, reason: String) -> Bool {
        // Checked and recorded under the lock, then swapped: two installs never interleave
        // so that an older one lands last.
        applied.withLock { current -> Bool in
            guard version > current else { return false }
            current = version
            engine.replaceTable(
                Gateway.routingTable(configuration, transport: transport, previous: engine.currentTable, logger: logger))
            access.replaceDirectory(Gateway.keyDirectory(configuration.keys))
            return true
        }
        .then { logger.info("routing snapshot swapped", metadata: ["reason": "\(reason)", "config.version": "\(version)"]) }
    }

    /// After an admin write on this instance.
    func installed(_ result: ConfigChangeResult) {
        install(result.configuration, version: result.version, reason: "admin API")
        // An operator vouching for a key again clears its refusal at once.
        for key in result.enabledKeys {
            engine.health.enableKey(UpstreamKeyRef(provider: key.provider, keyID: key.keyID), now: .now)
        }
    }
}

extension Bool {
    /// Runs `body` when true; returns self.
    @discardableResult
    fileprivate func then(_ body: () -> Void) -> Bool {
        if self { body() }
        return self
    }
}

/// Polls the configuration's change counter (once a second by default) and installs a
/// newer configuration, so a change made through another instance's admin API, or by
/// another instance's start-up sync, takes effect here within about that long.
struct ConfigWatcher: Service {
    let store: any ConfigStore
    let live: LiveConfiguration
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let delay = interval
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            } catch {
                return
            }
            do {
                let version = try await store.configurationVersion()
                guard version > live.version else { continue }
                let (loaded, configuration) = try await store.loadVersionedConfiguration()
                live.install(configuration, version: loaded, reason: "changed on the database")
            } catch {
                logger.warning("cannot check the stored configuration for changes", metadata: ["error": "\(error)"])
            }
        }
    }
}

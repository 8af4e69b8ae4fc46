import Balancing
import Foundation
import HTTPFront
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import OrchestratorCore
import Persistence
import Providers
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The assembled gateway: every layer wired by initializer injection.
///
/// `build` opens the store (running migrations), syncs the config file into it, builds
/// the routing snapshot and the HTTP application; `run` serves until a shutdown signal
/// (or ``shutdown()``), then drains in-flight requests, flushes the request-log writer,
/// and closes the upstream client and the database, in that order.
final class Gateway: Sendable {
    let settings: GatewaySettings
    let logger: Logger
    let store: SQLStore
    let engine: GatewayEngine
    let logWriter: RequestLogWriter
    let healthPersister: HealthPersister
    let activeChecker: ActiveHealthChecker
    let transport: RoutingTransport
    let access: AccessPolicy
    /// The running configuration, swapped on changes from any instance.
    let live: LiveConfiguration
    private let listening = Mutex<(port: Int?, waiters: [CheckedContinuation<Int, Never>])>((nil, []))
    private let groupBox = Mutex<ServiceGroup?>(nil)

    struct StartupError: Error, CustomStringConvertible {
        var description: String
    }

    static func build(settings: GatewaySettings, environment: [String: String], logger: Logger) async throws -> Gateway {
        _ = Telemetry.bootstrapped
        let url: DatabaseURL
        do {
            url = try DatabaseURL(parsing: settings.database.url)
        } catch {
            throw StartupError(description: "database.url: \(error)")
        }
        let store: SQLStore
        do {
            let (opened, keyOrigin) = try await SQLStore.open(url: url, secretKey: environment["ORCH_SECRET_KEY"], logger: logger)
            store = opened
            logger.info("database open", metadata: ["database.url": "\(url)", "key.source": "\(keyOrigin)"])
        } catch let error as DatabaseURL.Invalid {
            throw StartupError(description: error.description)
        } catch {
            throw StartupError(description: "database.url: \(url): \(error)")
        }
        let stored: StoredConfiguration
        let version: Int64
        do {
            _ = try await store.syncFromFile(settings)
            // Read with its version, so the watcher knows what is already running.
            (version, stored) = try await store.loadVersionedConfiguration()
        } catch {
            await store.close()
            throw error
        }

        // AsyncHTTPClient serves only proxied providers; its read timeout is one for the
        // whole client, so it gets the longest stream idle timeout configured.
        var proxyConfig = AsyncHTTPClientTransport.Configuration()
        let longestIdle = stored.providers.map(\.config.streamIdleTimeoutSeconds).max() ?? 120
        proxyConfig.readTimeout = .milliseconds(Int64(longestIdle * 1000))
        let transport = RoutingTransport(direct: NIOHTTPTransport(), proxyConfiguration: proxyConfig)
        let table = Self.routingTable(stored, transport: transport, logger: logger)
        let healthPersister = HealthPersister(store: store, logger: logger)
        let health = HealthMonitor(
            configuration: .init(
                failureThreshold: settings.health.failureThreshold,
                cooldown: .milliseconds(Int64(settings.health.cooldownSeconds * 1000))),
            sink: healthPersister, logger: logger)
        // Open circuits and refused keys survive a restart.
        let persisted = (try? await store.loadHealth()) ?? []
        let refusedKeys = stored.providers.flatMap { provider in
            provider.keys.filter { $0.state == "disabled" }.map {
                KeyHealthRecord(provider: provider.config.name, keyID: $0.id, state: $0.state, lastError: $0.lastError, updatedAtMillis: 0)
            }
        }
        health.restore(targets: persisted, disabledKeys: refusedKeys, now: .now)
        let logWriter = RequestLogWriter(inserter: store, logger: logger)
        let limiter = KeyLimiter()
        await Self.seedBudgets(limiter, keys: stored.keys, stats: store, logger: logger)
        let engine = GatewayEngine(
            table: table, configuration: .init(routing: settings.routing), health: health, logSink: logWriter,
            limiter: limiter)
        let activeChecker = ActiveHealthChecker(
            engine: engine, interval: .milliseconds(Int64(settings.health.checkIntervalSeconds * 1000)), logger: logger)
        let loopback = Self.isLoopback(settings.server.host)
        let access = AccessPolicy(
            directory: Self.keyDirectory(stored.keys), adminKey: settings.admin.key, loopbackOnly: loopback)
        if access.admitsAnonymous {
            logger.warning("no client keys configured: /v1 accepts any caller as anonymous while bound to loopback")
        }
        let live = LiveConfiguration(engine: engine, access: access, transport: transport, version: version, logger: logger)
        return Gateway(
            settings: settings, logger: logger, store: store, engine: engine, logWriter: logWriter,
            healthPersister: healthPersister, activeChecker: activeChecker, transport: transport, access: access, live: live)
    }

    private init(
        settings: GatewaySettings, logger: Logger, store: SQLStore, engine: GatewayEngine, logWriter: RequestLogWriter,
        healthPersister: HealthPersister, activeChecker: ActiveHealthChecker, transport: RoutingTransport,
        access: AccessPolicy, live: LiveConfiguration
    ) {
        self.live = live
        self.settings = settings
        self.logger = logger
        self.store = store
        self.engine = engine
        self.logWriter = logWriter
        self.healthPersister = healthPersister
        self.activeChecker = activeChecker
        self.transport = transport
        self.access = access
    }

    /// The admin API: every write swaps the routing snapshot and the key directory at once.
    var admin: GatewayAdmin {
        GatewayAdmin(
            store: store, actor: "admin:" + String(KeyHashing.sha256Hex(settings.admin.key ?? "").prefix(8)),
            onChange: { [live] result in live.installed(result) },
            check: { [engine, logger] name in await engine.checkProvider(name, logger: logger) }, logger: logger)
    }

    static func routingTable(
        _ stored: StoredConfiguration, transport: any HTTPTransport, previous: RoutingTable? = nil, logger: Logger
    ) -> RoutingTable {
        RoutingTable(
            providers: stored.providers.map(\.config),
            upstreamKeys: Dictionary(stored.providers.map { ($0.config.name, $0.keys) }, uniquingKeysWith: { a, _ in a }),
            models: stored.models.map(\.config), factory: ProviderRegistry(transport: transport), previous: previous,
            logger: logger)
    }

    /// Starts each budgeted key from what it already spent in its current period, read
    /// from the hourly rollups (periods start at UTC midnight, so whole hours cover them).
    static func seedBudgets(_ limiter: KeyLimiter, keys: [StoredClientKey], stats: any StatsStore, logger: Logger) async {
        let now = SystemClock().epochMillis
        let budgeted = keys.filter { $0.config.budgetUSD > 0 || $0.config.budgetTokens > 0 }
        for period in BudgetPeriod.allCases {
            let ids = Set(budgeted.filter { $0.config.budgetPeriod == period }.map(\.id))
            if ids.isEmpty { continue }
            let start = period.start(containing: now)
            let query = StatsQuery(
                sinceHourMillis: start.hourFloor, untilHourMillis: now.hourFloor + 3_600_000, groupBy: [.key])
            do {
                for group in try await stats.stats(query) {
                    guard let id = group.keyID, ids.contains(id) else { continue }
                    let a = group.aggregate
                    limiter.seed(keyID: id, periodStart: start, micros: a.costMicros, tokens: a.promptTokens + a.completionTokens)
                }
            } catch {
                logger.error(
                    "could not read stored usage; budgets start from zero", metadata: ["period": "\(period)", "error": "\(error)"])
            }
        }
    }

    static func keyDirectory(_ keys: [StoredClientKey]) -> ClientKeyDirectory {
        ClientKeyDirectory(
            entries: keys.map {
                ClientKeyDirectory.Entry(
                    keyHash: $0.keyHash,
                    principal: Principal(
                        keyID: $0.id, name: $0.name, allowedModels: $0.config.models, logBodies: $0.config.logBodies,
                        limits: KeyLimits($0.config)),
                    enabled: $0.config.enabled, expiresAt: $0.config.expiresAt)
            })
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// What the HTTP front serves: every layer of this gateway.
    func serverDependencies(inFlight: InFlightRequests = InFlightRequests()) -> GatewayServer.Dependencies {
        .init(
            chat: engine, codecs: ProviderRegistry.inboundCodecs, operationCodecs: ProviderRegistry.operationCodecs,
            access: access, readiness: store, configStore: store, health: engine, inFlight: inFlight,
            admin: admin, logs: store, metrics: { Telemetry.render() }, stats: store)
    }

    /// Serves until shutdown. With `handleSignals`, SIGINT and SIGTERM start a graceful shutdown.
    func run(handleSignals: Bool = true) async throws {
        let inFlight = InFlightRequests(limit: settings.server.maxInFlight)
        let app = GatewayServer.application(
            settings: settings.server, dependencies: serverDependencies(inFlight: inFlight), logger: logger,
            onListening: { [self] port in
                logger.info("listening on http://\(settings.server.host):\(port)")
                let waiters = listening.withLock { state -> [CheckedContinuation<Int, Never>] in
                    state.port = port
                    defer { state.waiters = [] }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume(returning: port) }
            })
        // Services stop in reverse order: the server drains first, then the active
        // checker stops, then health changes and request logs are flushed.
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: logWriter),
                .init(service: healthPersister),
                .init(service: activeChecker),
                .init(service: LogRetention(store: store, retentionDays: settings.database.logRetentionDays, logger: logger)),
                .init(service: ConfigWatcher(store: store, live: live, interval: .seconds(1), logger: logger)),
                .init(
                    service: DrainingServer(server: app, inFlight: inFlight, logger: logger),
                    successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
            cancellationSignals: [],
            logger: logger)
        // In-flight requests and streams get this long to finish; then they are cancelled.
        configuration.maximumGracefulShutdownDuration = .milliseconds(Int64(settings.server.shutdownGraceSeconds * 1000))
        let group = ServiceGroup(configuration: configuration)
        groupBox.withLock { $0 = group }
        do {
            try await group.run()
        } catch {
            await close()
            throw error
        }
        await close()
    }

    /// Waits until the server listens; returns the bound port.
    func waitUntilListening() async -> Int {
        await withCheckedContinuation { continuation in
            let port = listening.withLock { state -> Int? in
                if let port = state.port { return port }
                state.waiters.append(continuation)
                return nil
            }
            if let port { continuation.resume(returning: port) }
        }
    }

    /// Starts a graceful shutdown (as SIGTERM would).
    func shutdown() async {
        let group = groupBox.withLock { $0 }
        await group?.triggerGracefulShutdown()
    }

    private func close() async {
        await transport.shutdown()
        await store.close()
        logger.info("stopped", metadata: ["log_rows_written": "\(logWriter.rowsWritten)"])
    }
}

/// The HTTP application, and after it stops, the data plane's requests still finishing
/// (a client that went away at a forced shutdown): their log rows and key releases come
/// before the log writer and the store stop.
struct DrainingServer<Server: Service>: Service {
    let server: Server
    let inFlight: InFlightRequests
    let logger: Logger

    func run() async throws {
        do {
            try await server.run()
        } catch {
            await drain()
            throw error
        }
        await drain()
    }

    private func drain() async {
        // Not cancellable by the group's own cancellation: cancelled requests finish fast.
        let idle = await Task { await inFlight.waitUntilIdle(timeout: .seconds(5)) }.value
        if !idle { logger.warning("requests still running at shutdown", metadata: ["count": "\(inFlight.count)"]) }
    }
}

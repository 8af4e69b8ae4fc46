public import Hummingbird
public import Logging
import NIOCore
import HummingbirdCore
public import OrchestratorCore

/// Builds the Hummingbird application serving the gateway's HTTP surface.
public enum GatewayServer {
    /// What the HTTP front needs, injected by the daemon (or an embedder).
    public struct Dependencies: Sendable {
        public var chat: any ChatService
        /// Inbound codecs by API style; `.openai` is required.
        public var codecs: [APIStyle: any InboundCodec]
        /// Codecs of the routes that are not chat: `/v1/embeddings`, `/v1/responses`.
        public var operationCodecs: [APIOperation: any InboundCodec]
        public var access: AccessPolicy
        public var readiness: any ReadinessProbe
        public var configStore: any ConfigStore
        public var health: any HealthReporting
        public var clock: any GatewayClock
        /// The data plane's requests in progress (await them at shutdown).
        public var inFlight: InFlightRequests
        /// The admin CRUD API; without it `/admin` offers only the read-only listings.
        public var admin: (any AdminService)?
        /// The request logs `GET /admin/logs` reads.
        public var logs: (any RequestLogStore)?
        /// Renders the metrics for `GET /metrics` (Prometheus text format); nil: no route.
        public var metrics: (@Sendable () -> String)?
        /// The hourly rollups `GET /admin/stats` reads (served only with an admin service).
        public var stats: (any StatsStore)?

        public init(
            chat: any ChatService, codecs: [APIStyle: any InboundCodec],
            operationCodecs: [APIOperation: any InboundCodec] = [:], access: AccessPolicy,
            readiness: any ReadinessProbe, configStore: any ConfigStore, health: any HealthReporting,
            clock: any GatewayClock = SystemClock(), inFlight: InFlightRequests = InFlightRequests(),
            admin: (any AdminService)? = nil, logs: (any RequestLogStore)? = nil, metrics: (@Sendable () -> String)? = nil,
            stats: (any StatsStore)? = nil
        ) {
            self.metrics = metrics
            self.stats = stats
            self.inFlight = inFlight
            self.admin = admin
            self.logs = logs
            self.chat = chat
            self.codecs = codecs
            self.operationCodecs = operationCodecs
            self.access = access
            self.readiness = readiness
            self.configStore = configStore
            self.health = health
            self.clock = clock
        }
    }

    /// The router with every route and middleware.
    public static func router(settings: ServerSettings, dependencies: Dependencies) -> Router<GatewayRequestContext> {
        guard let openAI = dependencies.codecs[.openai] else {
            preconditionFailure("GatewayServer needs the OpenAI inbound codec")
        }
        let router = Router(context: GatewayRequestContext.self)
        router.add(
            middleware: FrontDoorMiddleware(
                codec: openAI, anthropicCodec: dependencies.codecs[.anthropic], geminiCodec: dependencies.codecs[.gemini],
                maxBodyBytes: settings.maxBodyBytes, clock: dependencies.clock,
                cors: CORSPolicy(origins: settings.corsOrigins)))
        ChatRoutes(endpoints: endpoints(settings: settings, dependencies: dependencies)).register(on: router)
        DocsRoutes().register(on: router)
        OpsRoutes(
            readiness: dependencies.readiness, configStore: dependencies.configStore, health: dependencies.health,
            access: dependencies.access, listsProviders: dependencies.admin == nil, metrics: dependencies.metrics
        ).register(on: router)
        if let admin = dependencies.admin {
            AdminRoutes(
                admin: admin, logs: dependencies.logs, access: dependencies.access, maxBodyBytes: settings.maxBodyBytes
            ).register(on: router)
            if let stats = dependencies.stats {
                let access = dependencies.access
                StatsRoutes(
                    stats: stats, configStore: dependencies.configStore, clock: dependencies.clock,
                    authorize: { request throws(GatewayError) in
                        try access.authenticateAdmin(ClientCredential.extract(headers: request.headers, query: nil))
                    }
                ).register(on: router)
            }
        }
        return router
    }

    /// The endpoints of the `/v1` and `/v1beta` API routes, one per codec present.
    static func endpoints(settings: ServerSettings, dependencies: Dependencies) -> APIEndpoints {
        guard let openAI = dependencies.codecs[.openai] else {
            preconditionFailure("GatewayServer needs the OpenAI inbound codec")
        }
        func endpoint(_ codec: any InboundCodec) -> ChatEndpoint {
            ChatEndpoint(
                service: dependencies.chat, codec: codec, access: dependencies.access, maxBodyBytes: settings.maxBodyBytes)
        }
        return APIEndpoints(
            chat: endpoint(openAI), messages: dependencies.codecs[.anthropic].map(endpoint),
            gemini: dependencies.codecs[.gemini].map(endpoint),
            embeddings: dependencies.operationCodecs[.embeddings].map(endpoint),
            responses: dependencies.operationCodecs[.responses].map(endpoint))
    }

    /// The application, listening on `settings.host:settings.port`: the NIO data plane
    /// serves `POST /v1/chat/completions` and `POST /v1/messages`, the router everything else.
    ///
    /// - Parameter onListening: called with the bound port once the server listens.
    public static func application(
        settings: ServerSettings, dependencies: Dependencies, logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = router(settings: settings, dependencies: dependencies)
        let idleTimeout = Duration.milliseconds(Int64(settings.idleTimeoutSeconds * 1000))
        let dataPlane = DataPlaneHandler.Shared(
            endpoints: endpoints(settings: settings, dependencies: dependencies), clock: dependencies.clock,
            logger: logger, writeStallTimeout: .nanoseconds(idleTimeout.totalNanoseconds), inFlight: dependencies.inFlight,
            streamKeepAlive: .nanoseconds(Int64(settings.streamKeepAliveSeconds * 1_000_000_000)),
            cors: CORSPolicy(origins: settings.corsOrigins))
        let connections = ConnectionCount(limit: settings.maxConnections)
        return Application(
            router: router,
            server: HTTPServerBuilder { responder in
                GatewayHTTP1Channel(
                    responder: responder, idleTimeout: idleTimeout, dataPlane: dataPlane,
                    headTimeout: .nanoseconds(Int64(settings.headerTimeoutSeconds * 1_000_000_000)),
                    requestTimeout: .nanoseconds(Int64(settings.requestReadTimeoutSeconds * 1_000_000_000)),
                    connections: connections)
            },
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: nil),
            onServerRunning: { channel in
                await onListening(channel.localAddress?.port ?? settings.port)
            },
            logger: logger)
    }
}

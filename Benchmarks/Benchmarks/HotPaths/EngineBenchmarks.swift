import Balancing
import Benchmark
import Logging
import NIOCore
import OrchestratorCore
import Providers

/// The engine's per-request cost: model resolution, capability filter, priority tiers
/// and the balancer's order, circuit and key checks, the adapter call, health recording
/// and the request-log row (dropped by the sink, but built).
///
/// Two kinds of provider: ``StubAdapter`` (no work at all: the engine alone) and the real
/// `OpenAIAdapter` over ``CannedUpstream`` (the bench harness's path without sockets:
/// upstream body rewrite, response head checks, usage scan or SSE translation).
func engineBenchmarks() {
    let stubbed = EngineFixture(factory: StubFactory())
    let canned = EngineFixture(factory: ProviderRegistry(transport: CannedUpstream()))
    let codec = OpenAIInboundCodec()

    func engineBenchmark(
        _ name: String, _ fixture: EngineFixture, body: ByteBuffer, model: String? = nil,
        configuration: Benchmark.Configuration = .init(metrics: HotPathMetrics.threaded)
    ) {
        Benchmark(name, configuration: configuration) { benchmark in
            let request = try fixture.request(body, model: model)
            benchmark.startMeasurement()
            try await ProcessCPUTime.record(in: benchmark) {
                for _ in benchmark.scaledIterations {
                    try await fixture.serve(request, codec: codec)
                }
            }
        }
    }

    engineBenchmark("engine: chat, 1 target, stub adapter", stubbed, body: Fixtures.smallChatBody)
    engineBenchmark(
        "engine: chat, 6 targets in 3 tiers (weighted_random), stub adapter", stubbed, body: Fixtures.smallChatBody,
        model: EngineFixture.tieredModel)
    engineBenchmark(
        "engine: chat, 6 targets in 3 tiers (least_latency), stub adapter", stubbed, body: Fixtures.smallChatBody,
        model: EngineFixture.leastLatencyModel)
    engineBenchmark("engine: stream, 1 target, stub adapter (3 events, no translation)", stubbed, body: Fixtures.smallStreamBody)
    engineBenchmark(
        "engine: chat, 1 target, OpenAI adapter + canned upstream (bench chat)", canned, body: Fixtures.smallChatBody)
    // One stream per iteration (the bench stream, 24 events arriving in one read); per
    // event, divide by 24.
    engineBenchmark(
        "engine: stream, 1 target, OpenAI adapter + canned upstream (bench stream), per stream",
        canned, body: Fixtures.smallStreamBody,
        configuration: .init(metrics: HotPathMetrics.threaded, scalingFactor: .one, maxIterations: 10_000))
    engineBenchmark(
        "engine: chat, mock provider (canonical completion + encodeCompletion)", canned, body: Fixtures.smallChatBody,
        model: EngineFixture.mockModel)

    // Everything the gateway does for one bench chat request between reading the body
    // and writing the response, except HTTP and sockets on both sides: request id,
    // decode + validate, the engine with the OpenAI adapter, the response's overhead header.
    Benchmark(
        "request: id + decode + engine + OpenAI adapter (bench chat, no I/O)",
        configuration: .init(metrics: HotPathMetrics.threaded)
    ) { benchmark in
        try await ProcessCPUTime.record(in: benchmark) {
            for _ in benchmark.scaledIterations {
                let chat = try codec.decodeChatRequest(Fixtures.smallChatBody)
                let request = InboundRequest(
                    style: .openai, body: Fixtures.smallChatBody, chat: chat, requestID: RequestID.generate(),
                    receivedAtMillis: canned.clock.epochMillis)
                try await canned.serve(request, codec: codec)
            }
        }
    }

    // The engine's shared health and key state, per call.
    let health = HealthMonitor(configuration: .init(failureThreshold: 3, cooldown: .seconds(30)), logger: .quietRequestLogger)
    let target = TargetID(provider: "up", upstreamModel: "gpt-4o-mini")

    Benchmark("health: recordSuccess (100-outcome window full)") { benchmark in
        let now = ContinuousClock.now
        for _ in benchmark.scaledIterations {
            health.recordSuccess(target, latency: .microseconds(250), now: now)
        }
    }

    // What `least_latency` reads for every target of a tier on every request.
    Benchmark("health: snapshot (100-outcome window full)") { benchmark in
        let now = ContinuousClock.now
        for _ in 0..<100 { health.recordSuccess(target, latency: .microseconds(250), now: now) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(health.snapshot(target, now: now))
        }
    }

    let keys = KeyPool(keys: [StoredUpstreamKey(id: "0", secret: "sk-bench-upstream", enabled: true)], strategy: .roundRobin)
    Benchmark("keys: acquire + release (1 key, round_robin)") { benchmark in
        for _ in benchmark.scaledIterations {
            if case .key(let lease) = keys.acquire(usable: { _ in true }) { keys.release(lease) }
        }
    }
}

/// An engine configured like `bench/run.sh`'s gateway (OpenAI-style providers with one
/// upstream key each, default routing and health settings), plus a model with several
/// weighted targets across priorities and one served by the built-in mock provider.
struct EngineFixture {
    static let tieredModel = "bench-tiers"
    static let leastLatencyModel = "bench-tiers-latency"
    static let mockModel = "demo-model"

    let engine: GatewayEngine
    let clock = SystemClock()
    let logger = Logger.quietRequestLogger

    init(factory: any ProviderFactory) {
        // Priority 0 takes everything while healthy; 1 and 2 are fallbacks.
        let tiers = [
            TargetConfig(provider: "t0a", model: "gpt-4o-mini", weight: 5, priority: 0),
            TargetConfig(provider: "t0b", model: "gpt-4o-mini", weight: 3, priority: 0),
            TargetConfig(provider: "t0c", model: "gpt-4o-mini", weight: 2, priority: 0),
            TargetConfig(provider: "t1a", model: "gpt-4o-mini", weight: 2, priority: 1),
            TargetConfig(provider: "t1b", model: "gpt-4o-mini", weight: 1, priority: 1),
            TargetConfig(provider: "t2a", model: "gpt-4o-mini", weight: 1, priority: 2),
        ]
        var providers = (["up"] + tiers.map(\.provider)).map { name in
            var provider = ProviderConfig(name: name, type: .openai, baseURL: "http://127.0.0.1:18081/v1")
            provider.apiKeys = ["sk-bench-upstream"]
            return provider
        }
        var mock = ProviderConfig(name: "demo", type: .mock)
        mock.mock = MockSettings()
        providers.append(mock)
        let models = [
            ModelConfig(name: "bench", targets: [TargetConfig(provider: "up", model: "gpt-4o-mini")]),
            ModelConfig(name: "bench-stream", targets: [TargetConfig(provider: "up", model: "gpt-4o-mini")]),
            ModelConfig(name: Self.tieredModel, targets: tiers),
            ModelConfig(name: Self.leastLatencyModel, targets: tiers, strategy: .leastLatency),
            ModelConfig(name: Self.mockModel, targets: [TargetConfig(provider: "demo", model: "mock-1")]),
        ]
        let table = RoutingTable(providers: providers, models: models, factory: factory, logger: logger)
        let health = HealthMonitor(configuration: .init(failureThreshold: 3, cooldown: .seconds(30)), logger: logger)
        engine = GatewayEngine(
            table: table, configuration: .init(routing: RoutingSettings()), health: health, logSink: DiscardingLogSink())
    }

    /// A decoded request, optionally for another model than its body names (the engine
    /// routes by the decoded `model`; the pass-through adapter rewrites it in the body anyway).
    func request(_ body: ByteBuffer, model: String? = nil) throws -> InboundRequest {
        var chat = try OpenAIInboundCodec().decodeChatRequest(body)
        if let model { chat.model = model }
        return InboundRequest(
            style: .openai, body: body, chat: chat, requestID: "0193a1b2c3d4e5f6a7b8c9d0e1f20304",
            receivedAtMillis: clock.epochMillis)
    }

    /// Serves `request` and consumes the result as the front door does (stream parts
    /// encoded when canonical, the terminator, the overhead header's text).
    func serve(_ template: InboundRequest, codec: OpenAIInboundCodec) async throws {
        // Received now, as the front door stamps each request (its deadline starts here).
        let request = InboundRequest(
            style: template.style, body: template.body, chat: template.chat, requestID: template.requestID,
            receivedAtMillis: template.receivedAtMillis, receivedAt: clock.now, forwardedHeaders: template.forwardedHeaders,
            operation: template.operation, route: template.route)
        let result = try await engine.chat(request, principal: .benchClient, logger: logger)
        switch result {
        case .completion(.raw(let bytes), _):
            blackHole(bytes)
        case .completion(.canonical(let completion), _):
            blackHole(try codec.encodeCompletion(completion))
        case .stream(let stream, _):
            var encoder = codec.makeStreamEncoder(for: request.chat)
            try await stream.forEach { part in
                switch part {
                case .raw(let bytes): blackHole(bytes)
                case .chunk(let chunk): blackHole(try encoder.encode(chunk))
                }
            }
            blackHole(encoder.finish())
        }
        blackHole(result.route.overheadMillisecondsText)
    }
}

extension Principal {
    /// `bench/run.sh`'s client key: every model, no body logging.
    static let benchClient = Principal(keyID: "file:bench", name: "bench")
}

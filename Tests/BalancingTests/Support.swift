import Logging
import NIOCore
import OrchestratorCore
import Synchronization

@testable import Balancing

/// An adapter driven by a closure, recording the calls it gets.
final class FakeAdapter: ProviderAdapter {
    let style: APIStyle = .openai
    let calls = Mutex<[ProviderCall]>([])
    let behaviour: @Sendable (ProviderCall, Int) async throws(GatewayError) -> ProviderCompletion
    let streamBehaviour: (@Sendable (ProviderCall) async throws(GatewayError) -> ProviderStream)?

    init(
        _ behaviour: @escaping @Sendable (ProviderCall, Int) async throws(GatewayError) -> ProviderCompletion = { _, _ in
            FakeAdapter.ok()
        },
        stream: (@Sendable (ProviderCall) async throws(GatewayError) -> ProviderStream)? = nil
    ) {
        self.behaviour = behaviour
        self.streamBehaviour = stream
    }

    var callCount: Int { calls.withLock { $0.count } }

    func complete(_ call: ProviderCall) async throws(GatewayError) -> ProviderCompletion {
        let n = calls.withLock { calls in
            calls.append(call)
            return calls.count
        }
        return try await behaviour(call, n)
    }

    let probes = Mutex<[String?]>([])
    let probeBehaviour = Mutex<(@Sendable (String?) throws(GatewayError) -> Void)?>(nil)

    func probe(_ provider: ProviderConfig, apiKey: String?, deadline: ContinuousClock.Instant, logger: Logger)
        async throws(GatewayError)
    {
        probes.withLock { $0.append(apiKey) }
        if let behaviour = probeBehaviour.withLock({ $0 }) { try behaviour(apiKey) }
    }

    func stream(_ call: ProviderCall) async throws(GatewayError) -> ProviderStream {
        calls.withLock { $0.append(call) }
        guard let streamBehaviour else { throw .internalError("no stream behaviour") }
        return try await streamBehaviour(call)
    }

    static func ok(_ text: String = "ok", usage: Usage = Usage(promptTokens: 10, completionTokens: 5)) -> ProviderCompletion {
        ProviderCompletion(
            body: .canonical(
                ChatCompletion(
                    id: "c", created: 1, model: "m",
                    choices: [.init(index: 0, message: ChatMessage(role: .assistant, content: .text(text)), finishReason: "stop")],
                    usage: usage)),
            usage: usage)
    }
}

/// A factory handing out prepared adapters by provider name.
struct FakeFactory: ProviderFactory {
    let adapters: [String: any ProviderAdapter]
    func makeAdapter(for provider: ProviderConfig) throws(GatewayError) -> any ProviderAdapter {
        guard let adapter = adapters[provider.name] else { throw .invalidRequest("no adapter for \(provider.name)") }
        return adapter
    }
}

/// Collects request-log rows in memory.
final class MemoryLogSink: RequestLogSink {
    let rows = Mutex<[RequestLogEntry]>([])
    func record(_ entry: RequestLogEntry) async { rows.withLock { $0.append(entry) } }
    var all: [RequestLogEntry] { rows.withLock { $0 } }
}

/// A clock whose sleeps return at once and whose time moves only when told.
final class ManualClock: GatewayClock {
    private let current = Mutex(ContinuousClock.now)
    let sleeps = Mutex<[Duration]>([])
    var now: ContinuousClock.Instant { current.withLock { $0 } }
    var epochMillis: Int64 { 1_700_000_000_000 }
    func advance(_ d: Duration) { current.withLock { $0 = $0.advanced(by: d) } }
    func sleep(until deadline: ContinuousClock.Instant) async throws {
        sleeps.withLock { $0.append(now.duration(to: deadline)) }
        current.withLock { $0 = max($0, deadline) }
    }
}

func request(
    _ model: String, stream: Bool = false, tools: Bool = false, image: Bool = false, receivedAt: ContinuousClock.Instant = .now
) -> InboundRequest {
    var chat = ChatRequest(model: model, messages: [ChatMessage(role: .user, content: .text("hello there"))])
    if stream { chat.stream = true }
    if tools { chat.tools = [Tool(function: FunctionDefinition(name: "f"))] }
    if image { chat.messages = [ChatMessage(role: .user, content: .parts([.imageURL(.init(url: "https://x/y.png"))]))] }
    return InboundRequest(
        style: .openai, body: ByteBuffer(string: "{}"), chat: chat, requestID: "req-\(model)", receivedAtMillis: 1,
        receivedAt: receivedAt)
}

func engine(
    providers: [(String, any ProviderAdapter)], models: [ModelConfig], routing: RoutingSettings = RoutingSettings(),
    clock: ManualClock = ManualClock(), sink: MemoryLogSink = MemoryLogSink(),
    health: HealthMonitor? = nil, keys: [String: [String]] = [:], random: any RandomSource = SeededRandom(seed: 1),
    caps: [String: (rpm: Int, tpm: Int)] = [:]
) -> GatewayEngine {
    let configs = providers.map { name, _ -> ProviderConfig in
        var config = ProviderConfig(name: name, type: .openai, baseURL: "http://\(name)")
        config.apiKeys = keys[name] ?? []
        config.rpm = caps[name]?.rpm ?? 0
        config.tpm = caps[name]?.tpm ?? 0
        return config
    }
    let table = RoutingTable(
        providers: configs, models: models, factory: FakeFactory(adapters: Dictionary(uniqueKeysWithValues: providers)),
        random: random, logger: Logger(label: "test"))
    var routing = routing
    routing.backoffInitialMs = 1
    routing.backoffMaxMs = 2
    let monitor = health ?? HealthMonitor(configuration: .init(failureThreshold: 3, cooldown: .seconds(30)), clock: clock)
    return GatewayEngine(
        table: table, configuration: .init(routing: routing), health: monitor, logSink: sink, clock: clock, random: random)
}

/// A deterministic random source (SplitMix64).
final class SeededRandom: RandomSource {
    private let generator: Mutex<SplitMix64>
    init(seed: UInt64) { generator = Mutex(SplitMix64(seed: seed)) }
    func next() -> UInt64 { generator.withLock { $0.next() } }
}

/// Records health changes handed to the sink.
final class RecordingSink: HealthEventSink {
    let changes = Mutex<[HealthChange]>([])
    func healthChanged(_ change: HealthChange) { changes.withLock { $0.append(change) } }
}

public import Logging
public import OrchestratorCore
import Synchronization

/// An immutable routing snapshot: model aliases, their targets, and the providers with
/// their adapters and key pools. The engine swaps the whole table atomically when the
/// configuration changes; requests in flight keep the table they started with.
public struct RoutingTable: Sendable {
    public struct Provider: Sendable {
        public var config: ProviderConfig
        public var adapter: any ProviderAdapter
        public var keys: KeyPool
    }

    public struct Model: Sendable {
        public var config: ModelConfig
        /// Per-model balancer state (round-robin position).
        let balancer: TierBalancer
    }

    public private(set) var providers: [String: Provider] = [:]
    public private(set) var models: [String: Model] = [:]
    /// Providers that could not be used, with the reason (logged at build time).
    public private(set) var unavailableProviders: [String: String] = [:]

    /// An empty table: every model is unknown.
    public init() {}

    /// Builds a table from configured providers and models.
    ///
    /// Providers whose adapter cannot be made (a type this build lacks) are left out and
    /// reported in ``unavailableProviders``; targets pointing at them are skipped.
    public init(
        providers: [ProviderConfig], upstreamKeys: [String: [StoredUpstreamKey]] = [:], models: [ModelConfig],
        factory: any ProviderFactory, logger: Logger
    ) {
        for provider in providers {
            do {
                let adapter = try factory.makeAdapter(for: provider)
                let keys =
                    upstreamKeys[provider.name]
                    ?? provider.apiKeys.enumerated().map { StoredUpstreamKey(id: "\($0.offset)", secret: $0.element, enabled: true) }
                self.providers[provider.name] = Provider(
                    config: provider, adapter: adapter, keys: KeyPool(keys: keys, strategy: provider.keyStrategy))
            } catch {
                unavailableProviders[provider.name] = error.message
                logger.warning(
                    "provider not routable", metadata: ["provider": "\(provider.name)", "reason": "\(error.message)"])
            }
        }
        for model in models {
            self.models[model.name] = Model(config: model, balancer: TierBalancer())
        }
    }

    /// Resolves a requested model: an exact alias first, else `provider/upstream-model`.
    func resolve(_ requested: String) -> (targets: [TargetConfig], model: ModelConfig?, balancer: TierBalancer?)? {
        if let model = models[requested] {
            return (model.config.targets, model.config, model.balancer)
        }
        if let slash = requested.firstIndex(of: "/") {
            let providerName = String(requested[..<slash])
            let upstream = String(requested[requested.index(after: slash)...])
            if !upstream.isEmpty, providers[providerName] != nil || unavailableProviders[providerName] != nil {
                return ([TargetConfig(provider: providerName, model: upstream)], nil, nil)
            }
        }
        return nil
    }
}

/// A provider's upstream keys and the rotation among them.
public final class KeyPool: Sendable {
    private let keys: [StoredUpstreamKey]
    private let strategy: KeyStrategy
    private let state: Mutex<State>

    struct State {
        var next = 0
        var inFlight: [Int]
    }

    public init(keys: [StoredUpstreamKey], strategy: KeyStrategy) {
        self.keys = keys.filter(\.enabled)
        self.strategy = strategy
        self.state = Mutex(State(inFlight: Array(repeating: 0, count: self.keys.count)))
    }

    /// Whether the provider has any usable key (a provider without keys sends none).
    public var isEmpty: Bool { keys.isEmpty }

    /// Takes a key for one attempt; call ``release(_:)`` with the returned index after.
    public func acquire() -> (index: Int, secret: String)? {
        guard !keys.isEmpty else { return nil }
        let index = state.withLock { state -> Int in
            let chosen: Int
            switch strategy {
            case .roundRobin:
                chosen = state.next % keys.count
                state.next = (state.next + 1) % keys.count
            case .random:
                chosen = Int.random(in: 0..<keys.count)
            case .leastUsed:
                let low = state.inFlight.min() ?? 0
                let candidates = state.inFlight.indices.filter { state.inFlight[$0] == low }
                chosen = candidates[state.next % candidates.count]
                state.next &+= 1
            }
            state.inFlight[chosen] += 1
            return chosen
        }
        return (index, keys[index].secret)
    }

    /// Returns a key taken with ``acquire()``.
    public func release(_ index: Int) {
        state.withLock { $0.inFlight[index] = max(0, $0.inFlight[index] - 1) }
    }
}

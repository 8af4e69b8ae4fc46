public import Logging
public import OrchestratorCore
import Synchronization

/// An immutable routing snapshot: model aliases, their targets, and the providers with
/// their adapters and key pools. The engine swaps the whole table atomically when the
/// configuration changes; requests in flight keep the table they started with.
public struct RoutingTable: Sendable {
    /// A routable provider. A class: every request's plan holds the ones it may try,
    /// and a reference is one retain where a copy of the configuration was dozens.
    public final class Provider: Sendable {
        public let config: ProviderConfig
        public let adapter: any ProviderAdapter
        public let keys: KeyPool

        init(config: ProviderConfig, adapter: any ProviderAdapter, keys: KeyPool) {
            self.config = config
            self.adapter = adapter
            self.keys = keys
        }

        /// The provider's own `rpm`/`tpm` caps as a limiter principal (nil: uncapped).
        var caps: Principal? {
            guard config.rpm > 0 || config.tpm > 0 else { return nil }
            return Principal(keyID: config.name, name: config.name, limits: KeyLimits(rpm: config.rpm, tpm: config.tpm))
        }
    }

    public struct Model: Sendable {
        public var config: ModelConfig
        /// Per-model balancer state (round-robin position).
        let balancer: TierBalancer
        /// A candidate for each of `config.targets`, by index: nil where the target's
        /// provider is not routable (unknown, its adapter unavailable, or disabled).
        let candidates: [Candidate?]
    }

    public private(set) var providers: [String: Provider] = [:]
    public private(set) var models: [String: Model] = [:]
    /// Providers that could not be used, with the reason (logged at build time).
    public private(set) var unavailableProviders: [String: String] = [:]
    /// Configured providers in name order, routable or not (for health reports).
    public private(set) var configuredProviders: [ProviderConfig] = []

    /// An empty table: every model is unknown.
    public init() {}

    /// Builds a table from configured providers and models.
    ///
    /// Providers whose adapter cannot be made (a type this build lacks) are left out and
    /// reported in ``unavailableProviders``; targets pointing at them are skipped. Each is
    /// logged as a warning unless `previous` (the table this one replaces) already had it
    /// for the same reason, so live changes do not repeat the warning for every provider.
    public init(
        providers: [ProviderConfig], upstreamKeys: [String: [StoredUpstreamKey]] = [:], models: [ModelConfig],
        factory: any ProviderFactory, random: any RandomSource = FastRandomSource(), previous: RoutingTable? = nil,
        logger: Logger
    ) {
        configuredProviders = providers.sorted { $0.name < $1.name }
        for provider in providers {
            do {
                let adapter = try factory.makeAdapter(for: provider)
                let keys =
                    upstreamKeys[provider.name]
                    ?? provider.apiKeys.enumerated().map { StoredUpstreamKey(id: "\($0.offset)", secret: $0.element, enabled: true) }
                self.providers[provider.name] = Provider(
                    config: provider, adapter: adapter,
                    keys: KeyPool(keys: keys, strategy: provider.keyStrategy, random: random))
            } catch {
                unavailableProviders[provider.name] = error.message
                if previous?.unavailableProviders[provider.name] != error.message {
                    logger.warning(
                        "provider not routable", metadata: ["provider": "\(provider.name)", "reason": "\(error.message)"])
                }
            }
        }
        for model in models {
            self.models[model.name] = Model(
                config: model, balancer: TierBalancer(), candidates: model.targets.map { candidate(for: $0) })
        }
    }

    /// Every (provider, upstream model) pair the models route to.
    public var configuredTargets: [TargetID] {
        var seen = Set<TargetID>()
        var out: [TargetID] = []
        for model in models.values.sorted(by: { $0.config.name < $1.config.name }) {
            for target in model.config.targets {
                let id = TargetID(provider: target.provider, upstreamModel: target.model)
                if seen.insert(id).inserted { out.append(id) }
            }
        }
        return out
    }

    /// A requested model's targets, and what its configuration says about routing them
    /// (nil for `provider/upstream-model`, which has no model entry).
    struct Resolution {
        var targets: [TargetConfig]
        /// A candidate for each of `targets`, nil where its provider is not routable.
        var candidates: [Candidate?]
        var strategy: RoutingStrategy?
        var price: Price?
        var balancer: TierBalancer?
    }

    /// Resolves a requested model: an exact alias first, else `provider/upstream-model`.
    /// Only the pieces a request uses come out: a copy of the whole model entry retained
    /// its every string.
    func resolve(_ requested: String) -> Resolution? {
        if let model = models[requested] {
            return Resolution(
                targets: model.config.targets, candidates: model.candidates, strategy: model.config.strategy,
                price: model.config.price, balancer: model.balancer)
        }
        if let slash = requested.firstIndex(of: "/") {
            let providerName = String(requested[..<slash])
            let upstream = String(requested[requested.index(after: slash)...])
            if !upstream.isEmpty, providers[providerName] != nil || unavailableProviders[providerName] != nil {
                let target = TargetConfig(provider: providerName, model: upstream)
                return Resolution(targets: [target], candidates: [candidate(for: target)])
            }
        }
        return nil
    }

    /// The candidate for `target`, or nil when its provider is not routable here
    /// (unknown, its adapter unavailable, or disabled).
    private func candidate(for target: TargetConfig) -> Candidate? {
        guard let provider = providers[target.provider], provider.config.enabled else { return nil }
        return Candidate(target: target, provider: provider)
    }
}

/// One target to try, with its provider. A class, and made once per target when the
/// table is built: a request passes its candidates around (the plan, the attempt loop,
/// the stream's closures), and each copy of the provider's and target's configurations,
/// or a candidate made per request, was a run of retains and releases.
final class Candidate: Sendable {
    let target: TargetConfig
    let provider: RoutingTable.Provider
    let id: TargetID

    init(target: TargetConfig, provider: RoutingTable.Provider) {
        self.target = target
        self.provider = provider
        self.id = TargetID(provider: target.provider, upstreamModel: target.model)
    }

    func keyRef(_ keyID: String) -> UpstreamKeyRef { UpstreamKeyRef(provider: target.provider, keyID: keyID) }

    /// Gives a key taken from this candidate's provider back (nil: the provider has none).
    func release(_ lease: KeyPool.Lease?) {
        if let lease { provider.keys.release(lease) }
    }
}

/// A provider's upstream keys and the rotation among them.
public final class KeyPool: Sendable {
    /// One key as the pool hands it out.
    public struct Lease: Sendable {
        public var index: Int
        public var id: String
        public var secret: String
    }

    /// The outcome of ``acquire(usable:)``.
    public enum Acquisition: Sendable {
        /// The provider has no keys: call it without one.
        case noKeys
        case key(Lease)
        /// Every key is cooling down or disabled: skip the provider.
        case allUnavailable
    }

    public let keys: [StoredUpstreamKey]
    private let strategy: KeyStrategy
    private let random: any RandomSource
    private let state: Mutex<State>

    struct State {
        var next = 0
        var inFlight: [Int]
    }

    /// Whether keys were configured at all (a provider whose keys are all switched off
    /// must not be called without one).
    public let hasConfiguredKeys: Bool

    public init(keys: [StoredUpstreamKey], strategy: KeyStrategy, random: any RandomSource = FastRandomSource()) {
        self.hasConfiguredKeys = !keys.isEmpty
        self.keys = keys.filter(\.enabled)
        self.strategy = strategy
        self.random = random
        self.state = Mutex(State(inFlight: Array(repeating: 0, count: self.keys.count)))
    }

    /// Whether the provider has any enabled key (a provider without keys sends none).
    public var isEmpty: Bool { keys.isEmpty }

    /// Leases taken and not yet released, over all keys.
    public var leasesInFlight: Int { state.withLock { $0.inFlight.reduce(0, +) } }

    /// Whether any key passes `usable` (no side effects).
    public func hasUsableKey(_ usable: (String) -> Bool) -> Bool {
        if keys.isEmpty { return !hasConfiguredKeys }
        return keys.contains { usable($0.id) }
    }

    /// Takes a key for one attempt among those `usable` says may be used now; give it
    /// back with ``release(_:)``.
    public func acquire(usable: (String) -> Bool) -> Acquisition {
        guard !keys.isEmpty else { return hasConfiguredKeys ? .allUnavailable : .noKeys }
        // The usable keys' indices go into a stack buffer: this runs for every attempt,
        // and a list on the heap was an allocation each time.
        let chosen = withUnsafeTemporaryAllocation(of: Int.self, capacity: keys.count) { buffer -> Int? in
            var count = 0
            for index in keys.indices where usable(keys[index].id) {
                buffer[count] = index
                count += 1
            }
            guard count > 0 else { return nil }
            let candidates = UnsafeBufferPointer(rebasing: buffer[..<count])
            return state.withLock { state -> Int in
                let chosen: Int
                switch strategy {
                case .roundRobin:
                    // The next key in rotation order that is usable.
                    let start = state.next % keys.count
                    chosen = (0..<keys.count).lazy.map { (start + $0) % self.keys.count }.first { candidates.contains($0) }!
                    state.next = chosen + 1
                case .random:
                    chosen = candidates[Int(random.next() % UInt64(candidates.count))]
                case .leastUsed:
                    // The fewest leases in flight; among those tied, the next in turn.
                    var low = Int.max
                    var tied = 0
                    for index in candidates {
                        let leases = state.inFlight[index]
                        if leases < low {
                            low = leases
                            tied = 1
                        } else if leases == low {
                            tied += 1
                        }
                    }
                    var skip = state.next % tied
                    chosen = candidates.first { index in
                        guard state.inFlight[index] == low else { return false }
                        if skip == 0 { return true }
                        skip -= 1
                        return false
                    }!
                    state.next &+= 1
                }
                state.inFlight[chosen] += 1
                return chosen
            }
        }
        guard let chosen else { return .allUnavailable }
        return .key(Lease(index: chosen, id: keys[chosen].id, secret: keys[chosen].secret))
    }

    /// Returns a key taken with ``acquire(usable:)``.
    public func release(_ lease: Lease) {
        state.withLock { $0.inFlight[lease.index] = max(0, $0.inFlight[lease.index] - 1) }
    }
}

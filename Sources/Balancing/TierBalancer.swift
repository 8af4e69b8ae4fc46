import OrchestratorCore
import Synchronization

/// Orders a model's targets for one request: priority tiers lowest first, and inside a
/// tier by the routing strategy. Holds the per-model state smooth round robin needs.
final class TierBalancer: Sendable {
    /// Smooth weighted round robin's current weights, by target index.
    private let current = Mutex<[Int: Int]>([:])

    init() {}

    /// Returns `targets` (with their original indices) in the order to try them.
    func order<R: RandomNumberGenerator>(
        _ targets: [(index: Int, target: TargetConfig)], strategy: RoutingStrategy,
        latency: (TargetConfig) -> Duration?, random: inout R
    ) -> [TargetConfig] {
        positions(targets, strategy: strategy, latency: latency, random: &random).map { targets[$0].target }
    }

    /// The order to try `targets` in, as positions in `targets`: priority tiers lowest
    /// first, each tier ordered by `strategy`. (The original indices key smooth round
    /// robin's weights.)
    func positions<R: RandomNumberGenerator>(
        _ targets: [(index: Int, target: TargetConfig)], strategy: RoutingStrategy,
        latency: (TargetConfig) -> Duration?, random: inout R
    ) -> [Int] {
        // One target has one order whatever the strategy; smooth round robin's weights
        // for a lone target stay at zero, so there is no state to keep.
        if targets.count == 1 { return [0] }
        let tiers = Dictionary(grouping: targets.indices, by: { targets[$0].target.priority }).sorted { $0.key < $1.key }
        var ordered: [Int] = []
        ordered.reserveCapacity(targets.count)
        for (_, tier) in tiers {
            switch strategy {
            case .weightedRandom:
                ordered += Self.weightedShuffle(tier, weight: { targets[$0].target.weight }, random: &random)
            case .roundRobin:
                ordered += smoothRoundRobin(tier, of: targets)
            case .leastLatency:
                ordered += Self.leastLatency(tier, latency: { latency(targets[$0].target) }, random: &random)
            }
        }
        return ordered
    }

    /// Weighted random sampling without replacement: each pick is proportional to weight.
    static func weightedShuffle<R: RandomNumberGenerator>(
        _ positions: [Int], weight: (Int) -> Int, random: inout R
    ) -> [Int] {
        var remaining = positions
        var out: [Int] = []
        out.reserveCapacity(positions.count)
        while !remaining.isEmpty {
            if remaining.count == 1 {
                out.append(remaining[0])
                break
            }
            let total = remaining.reduce(0) { $0 + max(0, weight($1)) }
            if total == 0 {
                out += remaining
                break
            }
            var pick = Int.random(in: 0..<total, using: &random)
            var chosen = 0
            for (i, position) in remaining.enumerated() {
                pick -= max(0, weight(position))
                if pick < 0 {
                    chosen = i
                    break
                }
            }
            out.append(remaining.remove(at: chosen))
        }
        return out
    }

    /// Smooth weighted round robin (as nginx does it): the first pick follows the
    /// rotation, the rest of the tier follows by weight as fallbacks.
    private func smoothRoundRobin(_ tier: [Int], of targets: [(index: Int, target: TargetConfig)]) -> [Int] {
        let total = tier.reduce(0) { $0 + max(0, targets[$1].target.weight) }
        guard total > 0, tier.count > 1 else { return tier }
        let first = current.withLock { weights -> Int in
            var best: Int?
            for position in tier {
                let entry = targets[position]
                weights[entry.index, default: 0] += max(0, entry.target.weight)
                if best == nil || weights[entry.index]! > weights[best!]! { best = entry.index }
            }
            weights[best!]! -= total
            return best!
        }
        let head = tier.first { targets[$0].index == first }!
        let rest = tier.filter { targets[$0].index != first }.sorted { targets[$0].target.weight > targets[$1].target.weight }
        return [head] + rest
    }

    /// Fastest recent latency first; one in ten requests explores a random order so a
    /// recovered or unmeasured target gets traffic again.
    static func leastLatency<R: RandomNumberGenerator>(
        _ positions: [Int], latency: (Int) -> Duration?, random: inout R
    ) -> [Int] {
        if Int.random(in: 0..<10, using: &random) == 0 { return positions.shuffled(using: &random) }
        return positions.sorted { a, b in
            switch (latency(a), latency(b)) {
            case (nil, nil): return false
            case (nil, _): return true  // unmeasured first: learn its latency
            case (_, nil): return false
            case (let x?, let y?): return x < y
            }
        }
    }
}

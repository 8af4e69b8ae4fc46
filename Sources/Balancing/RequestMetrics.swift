import Metrics
import OrchestratorCore
import Synchronization

/// Request metrics (swift-metrics; the daemon exports them in Prometheus format at
/// `/metrics`). Recorded from each request's log row, so every request counts once.
/// Labels are bounded: a model only once the request was routed (unknown models would
/// otherwise let clients mint series), a provider, a status code.
///
/// Durations are never recorded below zero: swift-prometheus cannot render a negative
/// `Duration` (its `/metrics` rendering traps), and two instants from different clocks
/// — an embedder's own clock against the front door's — can yield one.
final class RequestMetrics: Sendable {
    /// The handles for one (model, provider, status): a handle is looked up in the
    /// metrics backend once per label set, not once per request (that lookup, a lock and
    /// a hash of every label, cost 2.5 % of a request's CPU). Made after the metrics
    /// system is bootstrapped (the engine that owns this is), or they stay no-ops.
    private struct RequestSeries: Sendable {
        let requests: Counter
        let duration: Timer
        /// Streams only (only they have a first token).
        let timeToFirstToken: Timer?
        /// Routed requests only (an unknown model must not mint series).
        let tokens: (prompt: Counter, completion: Counter, cached: Counter, cost: FloatingPointCounter)?

        init(_ key: RequestKey) {
            let model = [("model", key.model)]
            requests = Counter(
                label: "orchestrator_requests_total", dimensions: model + [("provider", key.provider), ("status", String(key.status))])
            duration = Timer(label: "orchestrator_request_duration_seconds", dimensions: model)
            timeToFirstToken = key.stream ? Timer(label: "orchestrator_time_to_first_token_seconds", dimensions: model) : nil
            tokens =
                key.routed
                ? (
                    Counter(label: "orchestrator_tokens_total", dimensions: model + [("type", "prompt")]),
                    Counter(label: "orchestrator_tokens_total", dimensions: model + [("type", "completion")]),
                    Counter(label: "orchestrator_tokens_total", dimensions: model + [("type", "cached")]),
                    FloatingPointCounter(label: "orchestrator_cost_usd_total", dimensions: model)
                ) : nil
        }
    }

    private struct RequestKey: Hashable, Sendable {
        var model: String
        var provider: String
        var status: Int
        var stream: Bool
        var routed: Bool { provider != "(none)" }
    }

    private struct AttemptSeries: Sendable {
        let attempts: Counter
        let latency: Timer
    }

    private struct AttemptKey: Hashable, Sendable {
        var provider: String
        var status: Int
    }

    // Label sets are bounded (routed models, providers, statuses), so these stay small.
    private let requestSeries = Mutex<[RequestKey: RequestSeries]>([:])
    private let attemptSeries = Mutex<[AttemptKey: AttemptSeries]>([:])

    init() {}

    func record(_ entry: RequestLogEntry) {
        let routed = entry.provider != nil
        let key = RequestKey(
            model: routed ? entry.model : "(none)", provider: entry.provider ?? "(none)", status: entry.status,
            stream: entry.stream)
        let series = requestSeries.withLock { cache in
            if let found = cache[key] { return found }
            let made = RequestSeries(key)
            cache[key] = made
            return made
        }
        series.requests.increment()
        series.duration.recordMilliseconds(max(0, entry.latencyMillis))
        if let ttft = entry.timeToFirstTokenMillis {
            (series.timeToFirstToken ?? Timer(label: "orchestrator_time_to_first_token_seconds", dimensions: [("model", key.model)]))
                .recordMilliseconds(max(0, ttft))
        }
        for attempt in entry.attemptDetails {
            let attemptKey = AttemptKey(provider: attempt.provider, status: attempt.status)
            let handles = attemptSeries.withLock { cache in
                if let found = cache[attemptKey] { return found }
                let made = AttemptSeries(
                    attempts: Counter(
                        label: "orchestrator_upstream_attempts_total",
                        dimensions: [("provider", attempt.provider), ("status", String(attempt.status))]),
                    latency: Timer(label: "orchestrator_upstream_latency_seconds", dimensions: [("provider", attempt.provider)]))
                cache[attemptKey] = made
                return made
            }
            handles.attempts.increment()
            handles.latency.recordMilliseconds(max(0, attempt.latencyMs))
        }
        guard let tokens = series.tokens else { return }
        if entry.promptTokens > 0 { tokens.prompt.increment(by: entry.promptTokens) }
        if entry.completionTokens > 0 { tokens.completion.increment(by: entry.completionTokens) }
        if entry.cachedTokens > 0 { tokens.cached.increment(by: entry.cachedTokens) }
        if entry.costMicros > 0 { tokens.cost.increment(by: Double(entry.costMicros) / 1_000_000) }
    }

    /// A target's circuit: 0 closed, 1 half-open, 2 open.
    static func circuit(_ target: TargetID, state: HealthMonitor.CircuitState) {
        let value: Int
        switch state {
        case .closed: value = 0
        case .halfOpen: value = 1
        case .open: value = 2
        }
        Gauge(label: "orchestrator_circuit_state", dimensions: [("provider", target.provider), ("model", target.upstreamModel)])
            .record(value)
    }
}

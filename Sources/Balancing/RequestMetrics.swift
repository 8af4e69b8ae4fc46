import Metrics
import OrchestratorCore

/// Request metrics (swift-metrics; the daemon exports them in Prometheus format at
/// `/metrics`). Recorded from each request's log row, so every request counts once.
/// Labels are bounded: a model only once the request was routed (unknown models would
/// otherwise let clients mint series), a provider, a status code.
///
/// Durations are never recorded below zero: swift-prometheus cannot render a negative
/// `Duration` (its `/metrics` rendering traps), and two instants from different clocks
/// — an embedder's own clock against the front door's — can yield one.
enum RequestMetrics {
    static func record(_ entry: RequestLogEntry) {
        let routed = entry.provider != nil
        let model = routed ? entry.model : "(none)"
        let provider = entry.provider ?? "(none)"
        Counter(label: "orchestrator_requests_total", dimensions: [("model", model), ("provider", provider), ("status", String(entry.status))])
            .increment()
        Timer(label: "orchestrator_request_duration_seconds", dimensions: [("model", model)])
            .recordMilliseconds(max(0, entry.latencyMillis))
        if let ttft = entry.timeToFirstTokenMillis {
            Timer(label: "orchestrator_time_to_first_token_seconds", dimensions: [("model", model)])
                .recordMilliseconds(max(0, ttft))
        }
        for attempt in entry.attemptDetails {
            Counter(
                label: "orchestrator_upstream_attempts_total",
                dimensions: [("provider", attempt.provider), ("status", String(attempt.status))]
            ).increment()
            Timer(label: "orchestrator_upstream_latency_seconds", dimensions: [("provider", attempt.provider)])
                .recordMilliseconds(max(0, attempt.latencyMs))
        }
        guard routed else { return }
        for (kind, count) in [("prompt", entry.promptTokens), ("completion", entry.completionTokens), ("cached", entry.cachedTokens)]
        where count > 0 {
            Counter(label: "orchestrator_tokens_total", dimensions: [("model", model), ("type", kind)]).increment(by: count)
        }
        if entry.costMicros > 0 {
            FloatingPointCounter(label: "orchestrator_cost_usd_total", dimensions: [("model", model)])
                .increment(by: Double(entry.costMicros) / 1_000_000)
        }
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

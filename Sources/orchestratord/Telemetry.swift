import Metrics
import Prometheus

/// The process's metrics: swift-metrics bootstrapped once with a Prometheus registry,
/// rendered at `GET /metrics`.
enum Telemetry {
    static let registry = PrometheusCollectorRegistry()

    /// Bootstraps swift-metrics on first use (once per process: several gateways in one
    /// test process share it).
    static let bootstrapped: Bool = {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return true
    }()

    /// The Prometheus text exposition of every metric.
    static func render() -> String { registry.emitToString() }
}

import Foundation
import Prometheus

/// The API's Prometheus metrics, in a registry that other parts (runtime, proxy) add to.
public final class APIMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private static let buckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5),
    ]

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func record(method: String, route: String, status: Int, duration: Duration) {
        registry.makeDurationHistogram(
            name: "berth_api_request_duration_seconds",
            labels: [("method", method), ("route", route), ("status", String(status))],
            buckets: Self.buckets
        ).recordNanoseconds(Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}

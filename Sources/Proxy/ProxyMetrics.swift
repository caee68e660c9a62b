import NIOCore
import Prometheus
import Synchronization

/// Where a container woke from.
public enum WakeUpSource: String, Sendable {
    case paused
    case stopped
}

/// The proxy's per-container traffic metrics, in a registry shared with the rest of Berth.
public final class ProxyMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let containers = Mutex<[String: ContainerMetrics]>([:])

    static let requestBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]
    static let wakeUpBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60),
    ]

    private let refusedGlobal: Counter
    private let refusedPerClient: Counter
    private let timeouts: [String: Counter]

    static let timeoutLabels = ["header", "idle", "body", "response", "transfer", "flush", "tunnel"]

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        let refused = Self.descriptor(
            "connections_refused",
            "total",
            "Client connections closed at accept, by the cap they hit (global: proxy.max_connections, per_client: proxy.max_connections_per_client)."
        )
        self.refusedGlobal = registry.makeCounter(descriptor: refused, labels: [("reason", "global")])
        self.refusedPerClient = registry.makeCounter(descriptor: refused, labels: [("reason", "per_client")])
        let timedOut = Self.descriptor(
            "timeouts",
            "total",
            "Client connections cut by a timeout, by what was awaited: header, idle (keep-alive), body, response (upstream head), transfer (no progress mid-response), flush, tunnel."
        )
        self.timeouts = Dictionary(uniqueKeysWithValues: Self.timeoutLabels.map { label in
            (label, registry.makeCounter(descriptor: timedOut, labels: [("phase", label)]))
        })
    }

    func recordRefused(perClient: Bool) {
        (perClient ? refusedPerClient : refusedGlobal).increment()
    }

    func recordTimeout(_ label: String) {
        timeouts[label]?.increment()
    }

    func recordTunnelTimeout() {
        recordTimeout("tunnel")
    }

    /// A container's request series, created on first use and cached (handlers cache them too).
    func container(_ containerID: String) -> ContainerMetrics {
        containers.withLock { all in
            if let existing = all[containerID] { return existing }
            let created = ContainerMetrics(containerID: containerID, registry: registry)
            all[containerID] = created
            return created
        }
    }

    /// One request or exchange, when it ends. `status` 499: the client went away first.
    public func recordRequest(containerID: String, status: Int, duration: Duration) {
        container(containerID).record(status: status, duration: duration)
    }

    public func recordWakeUp(containerID: String, from source: WakeUpSource, duration: Duration) {
        wakeUps.withLock { _ = $0.insert(containerID) }
        wakeUpCounter(containerID, source).increment()
        wakeUpHistogram(containerID).record(duration)
    }

    /// Containers with wake-up series, so that a delete can drop them.
    private let wakeUps = Mutex<Set<String>>([])
    /// Containers with queue and scaling series (ProxyMetrics+Scaling.swift).
    let scalingSeries = Mutex<Set<String>>([])

    private func wakeUpCounter(_ containerID: String, _ source: WakeUpSource) -> Counter {
        registry.makeCounter(
            descriptor: Self.descriptor("wakeups", "total", "Containers woken by a request, by the state they woke from."),
            labels: [("container", containerID), ("from", source.rawValue)]
        )
    }

    private func wakeUpHistogram(_ containerID: String) -> DurationHistogram {
        registry.makeDurationHistogram(
            descriptor: Self.descriptor(
                "wakeup_duration",
                "seconds",
                "Time from the first request to an idle container until it was ready."
            ),
            labels: [("container", containerID)],
            buckets: Self.wakeUpBuckets
        )
    }

    static func descriptor(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "berth", subsystem: "proxy", metricName: name, unitName: unit, helpText: help)
    }

    /// Drops a deleted container's series (requests, in flight, wake-ups), so that a node that
    /// creates and deletes containers for ever does not export them for ever.
    public func removeContainer(_ containerID: String) {
        if let metrics = containers.withLock({ $0.removeValue(forKey: containerID) }) {
            metrics.unregister(from: registry)
        }
        if wakeUps.withLock({ $0.remove(containerID) }) != nil {
            for source in [WakeUpSource.paused, .stopped] { registry.unregisterCounter(wakeUpCounter(containerID, source)) }
            registry.unregisterDurationHistogram(wakeUpHistogram(containerID))
        }
        removeScalingSeries(containerID)
    }

    /// Containers that have series now (for tests).
    var containersWithSeries: Set<String> {
        containers.withLock { Set($0.keys) }.union(wakeUps.withLock { $0 }).union(scalingSeries.withLock { $0 })
    }
}

/// One container's request series. Counters and gauges are atomics; cached per connection so a
/// keep-alive request takes no registry lock.
final class ContainerMetrics: Sendable {
    static let classes = ["1xx", "2xx", "3xx", "4xx", "5xx"]

    let containerID: String
    private let requests: [Counter]
    private let duration: DurationHistogram
    private let inFlight: Gauge

    init(containerID: String, registry: PrometheusCollectorRegistry) {
        self.containerID = containerID
        self.requests = Self.classes.map { statusClass in
            registry.makeCounter(
                descriptor: ProxyMetrics.descriptor(
                    "requests",
                    "total",
                    "Requests proxied to a container, by response status class (499: client went away)."
                ),
                labels: [("container", containerID), ("class", statusClass)]
            )
        }
        self.duration = registry.makeDurationHistogram(
            descriptor: ProxyMetrics.descriptor(
                "request_duration",
                "seconds",
                "Time from a request's head to the end of its response (or tunnel)."
            ),
            labels: [("container", containerID)],
            buckets: ProxyMetrics.requestBuckets
        )
        self.inFlight = registry.makeGauge(
            descriptor: ProxyMetrics.descriptor("requests_in_flight", "", "Requests (and tunnels) to a container in progress."),
            labels: [("container", containerID)]
        )
    }

    func started() {
        inFlight.increment()
    }

    func finished(status: Int, duration: Duration) {
        inFlight.decrement()
        record(status: status, duration: duration)
    }

    func record(status: Int, duration: Duration) {
        let index = min(max(status / 100, 1), 5) - 1
        requests[index].increment()
        self.duration.record(duration)
    }

    func unregister(from registry: PrometheusCollectorRegistry) {
        requests.forEach(registry.unregisterCounter)
        registry.unregisterDurationHistogram(duration)
        registry.unregisterGauge(inFlight)
    }
}

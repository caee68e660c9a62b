import Prometheus
@testable import Proxy
import XCTest

/// A deleted container's series leave the exposition; other containers' stay.
final class MetricSeriesRemovalTests: XCTestCase {
    func testRemovingAContainerDropsEverySeriesWithItsLabel() {
        let registry = PrometheusCollectorRegistry()
        let metrics = ProxyMetrics(registry: registry)
        for id in ["gone", "kept"] {
            metrics.recordRequest(containerID: id, status: 200, duration: .milliseconds(3))
            metrics.recordWakeUp(containerID: id, from: .stopped, duration: .milliseconds(40))
        }
        metrics.recordWakeUp(containerID: "gone", from: .paused, duration: .milliseconds(4))
        XCTAssertTrue(registry.emitToString().contains(#"container="gone""#))

        metrics.removeContainer("gone")
        let text = registry.emitToString()
        XCTAssertFalse(text.contains(#"container="gone""#), text)
        XCTAssertTrue(text.contains(#"berth_proxy_requests_total{container="kept",class="2xx"} 1"#), text)
        XCTAssertTrue(text.contains(#"berth_proxy_wakeups_total{container="kept",from="stopped"} 1"#), text)
        XCTAssertEqual(metrics.containersWithSeries, ["kept"])

        // A container that served nothing has nothing to remove; removing twice is harmless.
        metrics.removeContainer("never")
        metrics.removeContainer("gone")
        XCTAssertEqual(metrics.containersWithSeries, ["kept"])
    }

    func testAThousandContainersComingAndGoingLeaveNoSeries() {
        let registry = PrometheusCollectorRegistry()
        let metrics = ProxyMetrics(registry: registry)
        let before = registry.emitToString().count
        for index in 0..<1000 {
            let id = "c\(index)"
            metrics.recordRequest(containerID: id, status: 200, duration: .milliseconds(1))
            metrics.recordWakeUp(containerID: id, from: .paused, duration: .milliseconds(1))
            metrics.removeContainer(id)
        }
        XCTAssertTrue(metrics.containersWithSeries.isEmpty)
        XCTAssertFalse(registry.emitToString().contains(#"container=""#))
        XCTAssertLessThanOrEqual(registry.emitToString().count, before + 2_000, "only HELP/TYPE lines may stay")
    }
}

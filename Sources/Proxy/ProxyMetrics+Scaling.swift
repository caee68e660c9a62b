
import Prometheus

/// Series of the per-container queue and autoscaler: requests refused by a full queue, how long
/// queued requests waited, and the instances the autoscaler asked for.
extension ProxyMetrics {
    public func recordQueueRefused(containerID: String) {
        scalingSeries.withLock { _ = $0.insert(containerID) }
        queueRefusedCounter(containerID).increment()
    }

    public func recordQueueWait(containerID: String, duration: Duration) {
        scalingSeries.withLock { _ = $0.insert(containerID) }
        queueWaitHistogram(containerID).record(duration)
    }

    public func recordScaleDecision(containerID: String, instances: Int) {
        scalingSeries.withLock { _ = $0.insert(containerID) }
        desiredInstancesGauge(containerID).set(Double(instances))
        scaleDecisionCounter(containerID).increment()
    }

    func removeScalingSeries(_ containerID: String) {
        guard scalingSeries.withLock({ $0.remove(containerID) }) != nil else { return }
        registry.unregisterCounter(queueRefusedCounter(containerID))
        registry.unregisterDurationHistogram(queueWaitHistogram(containerID))
        registry.unregisterGauge(desiredInstancesGauge(containerID))
        registry.unregisterCounter(scaleDecisionCounter(containerID))
    }

    private func queueRefusedCounter(_ containerID: String) -> Counter {
        registry.makeCounter(
            descriptor: Self.descriptor("queue_refused", "total", "Requests refused with 503 because the container's queue was full."),
            labels: [("container", containerID)])
    }

    private func queueWaitHistogram(_ containerID: String) -> DurationHistogram {
        registry.makeDurationHistogram(
            descriptor: Self.descriptor("queue_wait", "seconds", "Time requests waited in the container's queue for a free instance."),
            labels: [("container", containerID)], buckets: Self.wakeUpBuckets)
    }

    private func desiredInstancesGauge(_ containerID: String) -> Gauge {
        registry.makeGauge(
            descriptor: Self.descriptor("desired_instances", "", "Instances the autoscaler last asked for."),
            labels: [("container", containerID)])
    }

    private func scaleDecisionCounter(_ containerID: String) -> Counter {
        registry.makeCounter(
            descriptor: Self.descriptor("scale_decisions", "total", "Changes of the instances the autoscaler asks for."),
            labels: [("container", containerID)])
    }
}


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

    /// One phase of a cold start a request waited for: queued, pulled, started, ready (from a
    /// stop or a first start), or resumed (from paused).
    public func recordColdStartPhase(containerID: String, phase: String, duration: Duration) {
        scalingSeries.withLock { _ = $0.insert(containerID) }
        coldStartHistogram(containerID, phase).record(duration)
    }

    /// Sampled once per autoscaler tick: requests waiting for a free instance, and the
    /// container's instances by state (ready, starting, idle, failed).
    public func recordInstances(containerID: String, queued: Int, byState: [InstanceState: Int]) {
        scalingSeries.withLock { _ = $0.insert(containerID) }
        queueLengthGauge(containerID).set(Double(queued))
        for state in InstanceState.allCases {
            instancesGauge(containerID, state).set(Double(byState[state] ?? 0))
        }
    }

    func removeScalingSeries(_ containerID: String) {
        guard scalingSeries.withLock({ $0.remove(containerID) }) != nil else { return }
        for phase in ColdStartPhase.allCases { registry.unregisterDurationHistogram(coldStartHistogram(containerID, phase.rawValue)) }
        registry.unregisterCounter(queueRefusedCounter(containerID))
        registry.unregisterDurationHistogram(queueWaitHistogram(containerID))
        registry.unregisterGauge(desiredInstancesGauge(containerID))
        registry.unregisterCounter(scaleDecisionCounter(containerID))
        registry.unregisterGauge(queueLengthGauge(containerID))
        for state in InstanceState.allCases { registry.unregisterGauge(instancesGauge(containerID, state)) }
    }

    private func queueLengthGauge(_ containerID: String) -> Gauge {
        registry.makeGauge(
            descriptor: Self.descriptor("queue_length", "", "Requests waiting in the container's queue for a free instance."),
            labels: [("container", containerID)])
    }

    private func instancesGauge(_ containerID: String, _ state: InstanceState) -> Gauge {
        registry.makeGauge(
            descriptor: Self.descriptor("instances", "", "The container's instances by state."),
            labels: [("container", containerID), ("state", state.rawValue)])
    }

    private func coldStartHistogram(_ containerID: String, _ phase: String) -> DurationHistogram {
        registry.makeDurationHistogram(
            descriptor: Self.descriptor("cold_start_phase", "seconds", "Time each phase of a cold start took that a request waited for."),
            labels: [("container", containerID), ("phase", phase)], buckets: Self.wakeUpBuckets)
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

/// The phases of a cold start, as the metrics and `Server-Timing` name them.
public enum ColdStartPhase: String, CaseIterable, Sendable {
    /// From the request until the runtime took the start up (a stop under way finished first).
    case queued
    /// The image was there (pulled, or found in containerd's store).
    case pulled
    /// The task was created and started, with its network.
    case started
    /// It accepted connections on its port.
    case ready
    /// A paused instance was thawed.
    case resumed
}

/// An instance's state, as the instances metric counts it.
public enum InstanceState: String, CaseIterable, Sendable {
    /// Running and taking requests.
    case ready
    /// Pending, pulling or starting.
    case starting
    /// Paused or stopped (scaled to zero).
    case idle
    case failed
}

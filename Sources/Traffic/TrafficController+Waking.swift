import Foundation
import Proxy
import Reconciler
import Runtime
import Store

extension TrafficController {
    // MARK: - Waking

    /// Resumes a paused revision, starts a stopped one, or waits for one that is starting; the
    /// request is held meanwhile, up to the wake timeout. The runtime orders the wake after a
    /// pause or stop under way (the request waits for it, then the container starts), and all
    /// concurrent requests wait on the same start. A revision deleted while requests wait (a
    /// rollout retired it) sends them on to the revision that serves the host now.
    func wake(_ deployment: RevisionDeployment, label: String, from status: RuntimeStatus?) async -> Route {
        let start = ContinuousClock.now
        let deadline = start + configuration.wakeTimeout
        var deployment = deployment
        var status = status
        while true {
            if let status, status.phase == .failed { return .failed(status.message ?? "the container failed") }
            let wokeFrom: WakeUpSource? = switch status?.phase {
            case .paused: .paused
            case .stopped: .stopped
            default: nil
            }
            if wokeFrom == .stopped || status == nil {
                do { try database.markAwake(containerID: deployment.containerID) } catch {
                    logger.warning("could not record the wake-up", metadata: ["container": "\(deployment.name)", "error": "\(error)"])
                }
            }
            // The revision's GPUs travel with it, as in the reconciler's deployments: a wake may be
            // the first to supervise it (an idle revision after a restart, or a request before
            // the reconciler's first pass), and the runtime does not read the store.
            if deployment.spec.gpu > 0, deployment.gpuDevices.isEmpty {
                // The host's serving revision now (a rollout may have moved it since the lookup).
                guard let entry = routes.entry(for: label), entry.container.id == deployment.containerID else { return .notFound }
                do {
                    deployment = try RevisionDeployment(entry.container, entry.serving, gpusFrom: database)
                } catch {
                    return .failed("the GPUs of \(deployment.name) could not be read: \(error)")
                }
            }
            guard let settled = await runtime.wake(deployment, timeout: deadline - .now) else {
                return .unavailable("\(deployment.name) is not ready after \(configuration.wakeTimeout)")
            }
            switch settled.phase {
            case .running:
                guard let endpoint = settled.endpoint else { return .failed("\(deployment.name) runs without an address") }
                if let wokeFrom {
                    metrics?.recordWakeUp(containerID: deployment.containerID, from: wokeFrom, duration: ContinuousClock.now - start)
                    logger.info("woke up", metadata: ["container": "\(deployment.name)", "from": "\(wokeFrom.rawValue)",
                                                       "after": "\(ContinuousClock.now - start)"])
                }
                let coldStart = Self.coldStart(from: wokeFrom, settled: settled, requestedAt: start)
                for (phase, duration) in coldStart?.phases ?? [] {
                    metrics?.recordColdStartPhase(containerID: deployment.containerID, phase: phase.rawValue, duration: duration)
                }
                return .upstream(Upstream(containerID: deployment.containerID, revision: deployment.revision,
                                          host: endpoint.address, port: endpoint.port,
                                          speaks: UpstreamProtocol(deployment.spec.servingProtocol),
                                          serverTiming: coldStart?.serverTiming))
            case .deleted:
                switch await followRoute(label, from: deployment, until: deadline) {
                case .serving(let next):
                    deployment = next
                    status = runtime.status(next.runtimeID)
                case .gone:
                    return .notFound
                case .unchanged:
                    return .unavailable("\(deployment.name) is not ready after \(configuration.wakeTimeout)")
                }
            case .stopped where ContinuousClock.now < deadline:
                // A stop decided before this request came ran after the wake: wake again.
                status = settled
            default:
                return .failed(settled.message ?? "the container failed")
            }
        }
    }

    /// The wake-up the request waited for: a thaw, or a start that ended after it came.
    static func coldStart(from source: WakeUpSource?, settled: RuntimeStatus, requestedAt: ContinuousClock.Instant) -> ColdStart? {
        if source == .paused { return ColdStart(resumedIn: ContinuousClock.now - requestedAt) }
        guard let timeline = settled.startTimeline, let ready = timeline.ready, ready >= requestedAt else { return nil }
        return ColdStart(requestedAt: requestedAt, timeline: timeline)
    }

    private enum FollowedRoute { case serving(RevisionDeployment), gone, unchanged }

    /// The revision a held request waited on was deleted: waits (briefly; the store's change
    /// comes with the deletion) until the host's route names another serving revision.
    private func followRoute(_ label: String, from retired: RevisionDeployment,
                             until deadline: ContinuousClock.Instant) async -> FollowedRoute {
        while true {
            guard let entry = routes.entry(for: label), entry.container.phase != .deleting,
                  entry.container.id == retired.containerID
            else { return .gone }
            if entry.serving.number != retired.revision {
                return .serving(RevisionDeployment(containerID: entry.container.id, name: entry.container.name,
                                                   revision: entry.serving.number, spec: entry.serving.spec))
            }
            guard ContinuousClock.now < deadline else { return .unchanged }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

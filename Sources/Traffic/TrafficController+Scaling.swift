import BerthModel
import Foundation
import Proxy
import Reconciler
import Runtime
import ServiceLifecycle
import Store

extension TrafficController {
    // MARK: - The loop: autoscaling and scale to zero

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.followInstances() }
                var lastAutoscale = ContinuousClock.now
                while !Task.isCancelled {
                    if ContinuousClock.now - lastAutoscale >= self.configuration.autoscaler.tick {
                        lastAutoscale = .now
                        let entries = self.routes.all()
                        for entry in entries where entry.container.phase != .deleting {
                            self.autoscale(entry.container.id, sample: true)
                            self.reportInstances(entry)
                        }
                        self.forgetGone(keeping: Set(entries.map(\.container.id)))
                    }
                    for (id, name, action) in self.idleActions() {
                        group.addTask { await self.perform(action, on: id, name: name) }
                    }
                    try? await Task.sleep(for: .milliseconds(250))
                }
                group.cancelAll()
            }
        }
    }

    /// Instances that become ready take queued requests at once; a drained one that is gone
    /// may come back under the same id.
    private func followInstances() async {
        for await (runtimeID, status) in runtime.statusChanges() {
            guard let containerID = RevisionDeployment.parse(runtimeID)?.containerID else { continue }
            if status.phase == .deleted {
                state.withLock { $0.containers[containerID]?.dispatch.drained(runtimeID) }
            } else if status.phase == .running {
                refreshQueue(containerID)
            }
        }
    }

    /// The instances metric and the queue length, for containers that may run more than one
    /// instance; set only when a count changed (a node may hold a thousand containers).
    private func reportInstances(_ entry: RouteCache.Entry) {
        guard let metrics, entry.serving.spec.scaling.maxInstances > 1 else { return }
        var counts: [InstanceState: Int] = [:]
        for (id, status) in runtime.statuses(ofContainer: entry.container.id)
        where RevisionDeployment.parse(id)?.revision == entry.serving.number {
            let state: InstanceState? = switch status.phase {
            case .running: .ready
            case .pending, .pulling, .starting: .starting
            case .paused, .stopped: .idle
            case .failed: .failed
            case .deleted: nil
            }
            if let state { counts[state, default: 0] += 1 }
        }
        let report = ReportedInstances(queued: queued(entry.container.id), counts: counts)
        let changed = state.withLock { state in
            guard var traffic = state.containers[entry.container.id], traffic.reported != report else { return false }
            traffic.reported = report
            state.containers[entry.container.id] = traffic
            return true
        }
        if changed { metrics.recordInstances(containerID: entry.container.id, queued: report.queued, byState: counts) }
    }

    /// Counts of containers deleted while requests were still in flight, once those ended.
    private func forgetGone(keeping routed: Set<String>) {
        state.withLock { state in
            for id in Array(state.containers.keys) where !routed.contains(id) && state.containers[id]!.dispatch.isUnused {
                state.containers[id] = nil
            }
        }
    }

    /// Decides the container's instances from what it serves and queues (sampled once per
    /// tick) and tells the reconciler when the number changes.
    func autoscale(_ containerID: String, sample: Bool = false) {
        guard let entry = routes.entry(for: containerID), entry.container.id == containerID else { return }
        let policy = entry.serving.spec.scaling
        // One instance at most: nothing to decide (scale to zero is the idle tiers').
        guard policy.maxInstances > 1 else { return }
        let settings = configuration.autoscaler
        let now = ContinuousClock.now
        let decision = state.withLock { state -> (before: Int, after: Int)? in
            guard var traffic = state.containers[containerID] else { return nil }
            if sample {
                traffic.autoscaler.observe(traffic.dispatch.inFlight + traffic.dispatch.queued, at: now, settings: settings)
            }
            let before = traffic.autoscaler.target
            let after = traffic.autoscaler.decide(policy: policy, queued: traffic.dispatch.queued,
                                                  ready: traffic.dispatch.readyCount, now: now, settings: settings)
            state.containers[containerID] = traffic
            return (before, after)
        }
        guard let decision else { return }
        if decision.before != decision.after {
            logger.info("scaling", metadata: ["container": "\(entry.container.name)", "from": "\(decision.before)",
                                              "to": "\(decision.after)"])
            metrics?.recordScaleDecision(containerID: containerID, instances: decision.after)
        }
        // Every time, not only on a change: the reconciler ignores a target it already has.
        scaler.withLock { $0 }?(containerID, decision.after)
    }

    enum IdleAction: Sendable { case pause, stop }

    private func perform(_ action: IdleAction, on id: String, name: String) async {
        defer { _ = scaling.withLock { $0.remove(id) } }
        switch action {
        case .pause:
            if await runtime.pause(id) { logger.info("paused idle container", metadata: ["container": "\(name)"]) }
        case .stop:
            logger.info("stopping idle container", metadata: ["container": "\(name)"])
            // Recorded first: a berthd killed during the stop restarts with the revision stopped.
            if let (containerID, revision) = RevisionDeployment.parse(id) {
                do { try database.markIdle(containerID: containerID, revision: revision) } catch {
                    logger.warning("could not record the idle stop", metadata: ["container": "\(name)", "error": "\(error)"])
                }
            }
            await runtime.stop(id)
        }
    }

    /// Serving revisions down to their first instance that had no request for a while: pause
    /// it, then stop it. Containers with `minInstances` above 0 are never paused or stopped;
    /// those running more than one instance first scale down (the autoscaler).
    func idleActions(now: ContinuousClock.Instant = .now) -> [(String, String, IdleAction)] {
        var actions: [(String, String, IdleAction)] = []
        for entry in routes.all() where entry.serving.spec.scaling.minInstances == 0 && entry.container.phase != .deleting {
            let id = RevisionDeployment.runtimeID(containerID: entry.container.id, revision: entry.serving.number)
            guard let status = runtime.status(id), status.phase == .running || status.phase == .paused else { continue }
            let second = RevisionDeployment.runtimeID(containerID: entry.container.id, revision: entry.serving.number, instance: 1)
            guard runtime.status(second) == nil else { continue }
            let policy = entry.serving.spec.scaling
            let idle = state.withLock { state -> Duration? in
                let traffic = state.containers[entry.container.id] ?? newTraffic(policy, now: now)
                state.containers[entry.container.id] = traffic
                return traffic.dispatch.isUnused ? now - traffic.lastActive : nil
            }
            guard let idle else { continue }
            let action: IdleAction?
            if configuration.stopAfter > .zero, idle >= configuration.stopAfter {
                action = .stop
            } else if configuration.pauseAfter > .zero, idle >= configuration.pauseAfter, status.phase == .running {
                action = .pause
            } else {
                action = nil
            }
            if let action, scaling.withLock({ $0.insert(id).inserted }) {
                actions.append((id, entry.container.name, action))
            }
        }
        return actions
    }
}

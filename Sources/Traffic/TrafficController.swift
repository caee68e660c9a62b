import Foundation
import Logging
import Proxy
import Reconciler
import Runtime
import ServiceLifecycle
import Store
import Synchronization

/// Berth's side of the proxy. It routes a host to its container's serving revision, holds the
/// request while that revision starts or wakes (from paused or stopped), counts requests in
/// flight per revision, scales revisions with no traffic to zero, and drains a revision that a
/// rollout retires.
public final class TrafficController: RouteTable, Service, Sendable {
    let configuration: TrafficConfiguration
    let runtime: ContainerRuntime
    let metrics: ProxyMetrics?
    let logger: Logger
    let routes: RouteCache
    /// Where scale to zero is recorded (`markIdle` / `markAwake`), so that the reconciler and a
    /// restarted berthd leave an idle revision stopped.
    let database: BerthDatabase
    let activity = Mutex<[String: Activity]>([:])

    struct Activity {
        var inFlight = 0
        var lastActive: ContinuousClock.Instant
    }

    public init(configuration: TrafficConfiguration, database: BerthDatabase, runtime: ContainerRuntime,
                metrics: ProxyMetrics?, logger: Logger = Logger(label: "berth.traffic")) {
        self.configuration = configuration
        self.runtime = runtime
        self.metrics = metrics
        self.logger = logger
        self.database = database
        routes = RouteCache(database: database)
        // A deleted container's request counts go with it, so nothing here grows with churn.
        _ = try? database.observeContainerChanges { [weak self] changes in
            let gone = Set(changes.filter(\.isDeleted).map(\.containerID))
            guard !gone.isEmpty else { return }
            self?.activity.withLock { activity in
                for id in activity.keys where RevisionDeployment.parse(id).map({ gone.contains($0.containerID) }) ?? true {
                    activity.removeValue(forKey: id)
                }
            }
        }
    }

    // MARK: - RouteTable

    public func route(host: String) async -> Route {
        let suffix = "." + configuration.domain
        guard host.hasSuffix(suffix), host.count > suffix.count else { return .notFound }
        let label = String(host.dropLast(suffix.count))
        guard let entry = routes.entry(for: label), entry.container.phase != .deleting else { return .notFound }
        let deployment = RevisionDeployment(containerID: entry.container.id, name: entry.container.name,
                                            revision: entry.serving.number, spec: entry.serving.spec)
        touch(deployment.runtimeID)
        let status = runtime.status(deployment.runtimeID)
        if let status, status.phase == .running, let endpoint = status.endpoint {
            return .upstream(Upstream(containerID: deployment.containerID, revision: deployment.revision,
                                      host: endpoint.address, port: endpoint.port))
        }
        return await wake(deployment, label: label, from: status)
    }

    public func requestStarted(_ upstream: Upstream) {
        let id = RevisionDeployment.runtimeID(containerID: upstream.containerID, revision: upstream.revision)
        activity.withLock { activity in
            activity[id, default: Activity(lastActive: .now)].inFlight += 1
            activity[id]!.lastActive = .now
        }
    }

    public func requestFinished(_ upstream: Upstream) {
        let id = RevisionDeployment.runtimeID(containerID: upstream.containerID, revision: upstream.revision)
        activity.withLock { activity in
            activity[id, default: Activity(lastActive: .now)].inFlight -= 1
            activity[id]!.lastActive = .now
        }
    }

    /// Requests in flight to a revision.
    public func inFlight(_ runtimeID: String) -> Int {
        activity.withLock { $0[runtimeID]?.inFlight ?? 0 }
    }

    private func touch(_ runtimeID: String) {
        activity.withLock { $0[runtimeID, default: Activity(lastActive: .now)].lastActive = .now }
    }

    // MARK: - Waking

    /// Resumes a paused revision, starts a stopped one, or waits for one that is starting; the
    /// request is held meanwhile, up to the wake timeout. The runtime orders the wake after a
    /// pause or stop under way (the request waits for it, then the container starts), and all
    /// concurrent requests wait on the same start. A revision deleted while requests wait (a
    /// rollout retired it) sends them on to the revision that serves the host now.
    private func wake(_ deployment: RevisionDeployment, label: String, from status: RuntimeStatus?) async -> Route {
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
                touch(deployment.runtimeID)
                return .upstream(Upstream(containerID: deployment.containerID, revision: deployment.revision,
                                          host: endpoint.address, port: endpoint.port))
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

    // MARK: - Draining

    /// Waits until the revision serves no request (the store already routes new ones elsewhere),
    /// or the drain timeout passes.
    public func drain(_ runtimeID: String) async {
        // A request routed just before the switch may not have started yet: give it a moment.
        try? await Task.sleep(for: .milliseconds(200))
        let deadline = ContinuousClock.now + configuration.drainTimeout
        while inFlight(runtimeID) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        activity.withLock { _ = $0.removeValue(forKey: runtimeID) }
    }

    // MARK: - Scale to zero

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                while !Task.isCancelled {
                    for (id, name, action) in self.idleActions() {
                        group.addTask { await self.perform(action, on: id, name: name) }
                    }
                    try? await Task.sleep(for: .milliseconds(250))
                }
                group.cancelAll()
            }
        }
    }

    enum IdleAction: Sendable { case pause, stop }

    /// Revisions scaling down right now; a stop takes up to the grace period.
    let scaling = Mutex<Set<String>>([])

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

    /// Serving revisions that had no request for a while: pause them, then stop them.
    /// Containers that keep one instance warm are never paused or stopped.
    func idleActions(now: ContinuousClock.Instant = .now) -> [(String, String, IdleAction)] {
        var actions: [(String, String, IdleAction)] = []
        for entry in routes.all() where !entry.container.keepWarm && entry.container.phase != .deleting {
            let id = RevisionDeployment.runtimeID(containerID: entry.container.id, revision: entry.serving.number)
            guard let status = runtime.status(id), status.phase == .running || status.phase == .paused else { continue }
            let idle = activity.withLock { activity -> Duration? in
                let record = activity[id, default: Activity(lastActive: now)]
                activity[id] = record
                return record.inFlight > 0 ? nil : now - record.lastActive
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

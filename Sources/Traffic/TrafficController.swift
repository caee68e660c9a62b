import Foundation
import Logging
import Proxy
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
        routes = RouteCache(database: database)
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
        return await wake(deployment, from: status)
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
    /// request is held meanwhile, up to the wake timeout. Concurrent requests all wait on the same
    /// start: the runtime serialises each revision's operations.
    private func wake(_ deployment: RevisionDeployment, from status: RuntimeStatus?) async -> Route {
        let id = deployment.runtimeID
        let start = ContinuousClock.now
        var wokeFrom: WakeUpSource?
        switch status?.phase {
        case .paused:
            wokeFrom = .paused
            await runtime.resume(id)
        case .stopped, nil:
            wokeFrom = status == nil ? nil : .stopped
            runtime.deploy(deployment)
        case .failed:
            return .failed(status?.message ?? "the container failed")
        case .deleted:
            return .notFound
        case .pending, .pulling, .starting, .running:
            break
        }
        let settled: RuntimeStatus
        do {
            settled = try await runtime.waitForStatus(id, timeout: configuration.wakeTimeout) {
                $0.phase == .running || $0.phase == .failed
            }
        } catch {
            return .unavailable("\(deployment.name) is not ready after \(configuration.wakeTimeout)")
        }
        guard settled.phase == .running, let endpoint = settled.endpoint else {
            return .failed(settled.message ?? "the container failed")
        }
        if let wokeFrom {
            metrics?.recordWakeUp(containerID: deployment.containerID, from: wokeFrom, duration: ContinuousClock.now - start)
            logger.info("woke up", metadata: ["container": "\(deployment.name)", "from": "\(wokeFrom.rawValue)",
                                               "after": "\(ContinuousClock.now - start)"])
        }
        touch(id)
        return .upstream(Upstream(containerID: deployment.containerID, revision: deployment.revision,
                                  host: endpoint.address, port: endpoint.port))
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

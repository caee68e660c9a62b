import BerthModel
import Foundation
import Logging
import Proxy
import Reconciler
import Runtime
import ServiceLifecycle
import Store
import Synchronization

/// Berth's side of the proxy. It routes a host to an instance of its container's serving
/// revision (`DispatchState`: the least busy under its `concurrency`, or a bounded queue), holds
/// the request while the first instance starts or wakes (from paused or stopped), asks the
/// reconciler for the instances the load needs (`AutoscalerState`), scales containers with no
/// traffic to zero, and drains an instance that a rollout or a scale-down retires.
public final class TrafficController: RouteTable, Service, Sendable {
    let configuration: TrafficConfiguration
    let runtime: ContainerRuntime
    let metrics: ProxyMetrics?
    let logger: Logger
    let routes: RouteCache
    /// Where scale to zero is recorded (`markIdle` / `markAwake`), so that the reconciler and a
    /// restarted berthd leave an idle revision stopped.
    let database: BerthDatabase
    let state = Mutex(State())
    /// Where the autoscaler's decisions go: the reconciler's `scale(_:to:)`.
    let scaler = Mutex<(@Sendable (String, Int) -> Void)?>(nil)
    /// Revisions scaling to zero right now; a stop takes up to the grace period.
    let scaling = Mutex<Set<String>>([])

    struct State {
        var containers: [String: ContainerTraffic] = [:]
        var waiters: [DispatchState.WaiterID: Waiter] = [:]
        var nextWaiter: DispatchState.WaiterID = 0
    }

    /// One container's requests, queue, autoscaler and last activity.
    struct ContainerTraffic {
        var dispatch: DispatchState
        var autoscaler: AutoscalerState
        var lastActive: ContinuousClock.Instant
        /// What the instances metric last said.
        var reported: ReportedInstances?
    }

    /// The queue length and instances by state, as last reported to the metrics.
    struct ReportedInstances: Equatable {
        var queued: Int
        var counts: [InstanceState: Int]
    }

    /// A queued request: handed an instance before it began to wait, or waiting.
    enum Waiter {
        case handed(Upstream)
        case waiting(CheckedContinuation<Upstream?, Never>)
        case queued
    }

    public init(configuration: TrafficConfiguration, database: BerthDatabase, runtime: ContainerRuntime,
                metrics: ProxyMetrics?, logger: Logger = Logger(label: "berth.traffic")) {
        self.configuration = configuration
        self.runtime = runtime
        self.metrics = metrics
        self.logger = logger
        self.database = database
        routes = RouteCache(database: database)
        // A deleted container's counts go with it, so nothing here grows with churn.
        _ = try? database.observeContainerChanges { [weak self] changes in
            let gone = changes.filter(\.isDeleted).map(\.containerID)
            guard !gone.isEmpty else { return }
            self?.state.withLock { state in
                for id in gone where state.containers[id]?.dispatch.isUnused ?? false { state.containers[id] = nil }
            }
        }
    }

    /// Sets where the autoscaler sends the instance counts it decides.
    public func setScaler(_ scale: @escaping @Sendable (_ containerID: String, _ instances: Int) -> Void) {
        scaler.withLock { $0 = scale }
    }

    // MARK: - RouteTable

    public func routeNow(host: String) -> Route? {
        guard let label = label(of: host), let entry = routes.entry(for: label), entry.container.phase != .deleting else {
            return .notFound
        }
        let ready = readyInstances(entry)
        // No instance runs: a wake-up, which waits.
        guard !ready.isEmpty else { return nil }
        switch arrive(entry, ready: ready, mayWait: false).arrival {
        case .send(let upstream): return .upstream(upstream)
        case .refuse: return refused(entry)
        case .wait, nil: return nil
        }
    }

    public func route(host: String) async -> Route {
        guard let label = label(of: host), var entry = routes.entry(for: label), entry.container.phase != .deleting else {
            return .notFound
        }
        var ready = readyInstances(entry)
        if ready.isEmpty {
            let first = RevisionDeployment(containerID: entry.container.id, name: entry.container.name,
                                           revision: entry.serving.number, spec: entry.serving.spec)
            touch(first.containerID)
            let woken = await wake(first, label: label, from: runtime.status(first.runtimeID))
            guard case .upstream(let wokenUpstream) = woken else { return woken }
            // The wake may have followed the host to a newer revision.
            guard let now = routes.entry(for: label), now.container.id == entry.container.id else { return .notFound }
            entry = now
            ready = readyInstances(entry)
            // The runtime publishes a status before it tells the waiters, so the instance that
            // woke is on the board now.
            guard !ready.isEmpty else { return .unavailable("\(entry.container.name) stopped again as it woke") }
            // The request that waited for the wake-up is told how long each phase took.
            let routed = await dispatch(entry, ready: ready)
            guard case .upstream(var dispatched) = routed else { return routed }
            dispatched.serverTiming = wokenUpstream.serverTiming
            return .upstream(dispatched)
        }
        return await dispatch(entry, ready: ready)
    }

    public func requestStarted(_ upstream: Upstream) {
        touch(upstream.containerID)
    }

    public func requestFinished(_ upstream: Upstream) {
        release(upstream)
    }

    public func routeUnused(_ upstream: Upstream) {
        release(upstream)
    }

    /// Requests in flight to an instance.
    public func inFlight(_ runtimeID: String) -> Int {
        guard let containerID = RevisionDeployment.parse(runtimeID)?.containerID else { return 0 }
        return state.withLock { $0.containers[containerID]?.dispatch.inFlight(runtimeID) ?? 0 }
    }

    /// Requests waiting for a free instance of the container.
    public func queued(_ containerID: String) -> Int {
        state.withLock { $0.containers[containerID]?.dispatch.queued ?? 0 }
    }

    /// The serving revision's instances that run, by runtime id: one status read for a single
    /// instance (the common case, on every request), the container's statuses for more.
    func readyInstances(_ entry: RouteCache.Entry) -> [String: Upstream] {
        let policy = entry.serving.spec.scaling
        let containerID = entry.container.id, revision = entry.serving.number
        var ready: [String: Upstream] = [:]
        func add(_ id: String, _ instance: Int, _ status: RuntimeStatus?) {
            guard let endpoint = status?.endpoint else { return }
            ready[id] = Self.upstream(entry, instance: instance, address: endpoint.address, port: endpoint.port)
        }
        if policy.maxInstances <= 1 {
            let id = RevisionDeployment.runtimeID(containerID: containerID, revision: revision)
            add(id, 0, runtime.status(id))
        } else {
            for (id, status) in runtime.statuses(ofContainer: containerID) {
                guard let parsed = RevisionDeployment.parseInstance(id), parsed.revision == revision,
                      parsed.instance < policy.maxInstances else { continue }
                add(id, parsed.instance, status)
            }
        }
        return ready
    }

    /// Instance `instance` of the entry's serving revision at `address:port`, as the proxy
    /// reaches it: in the HTTP the revision serves, with the revision's request timeout.
    static func upstream(_ entry: RouteCache.Entry, instance: Int, address: String, port: Int) -> Upstream {
        Upstream(containerID: entry.container.id, revision: entry.serving.number, instance: instance, host: address, port: port,
                 speaks: UpstreamProtocol(entry.serving.spec.servingProtocol), responseTimeout: entry.serving.spec.scaling.timeout)
    }

    private func touch(_ containerID: String) {
        state.withLock { $0.containers[containerID]?.lastActive = .now }
    }

    // MARK: - Dispatch

    /// The host label before `.<domain>`; nil for another domain. Compared as bytes: the host
    /// is lowercased ASCII by the proxy, as the domain is by configuration.
    private func label(of host: String) -> String? {
        let suffix = "." + configuration.domain
        guard host.utf8.count > suffix.utf8.count, host.utf8.suffix(suffix.utf8.count).elementsEqual(suffix.utf8) else {
            return nil
        }
        return String(Substring(host.utf8.dropLast(suffix.utf8.count)))
    }

    /// Sends the request to an instance with room, or queues it until one has room, up to the
    /// wake timeout (then 503, as when the queue is full).
    private func dispatch(_ entry: RouteCache.Entry, ready: [String: Upstream]) async -> Route {
        let containerID = entry.container.id
        let (arrival, waiter) = arrive(entry, ready: ready, mayWait: true)
        switch arrival {
        case .send(let upstream):
            return .upstream(upstream)
        case .refuse, nil:
            return refused(entry)
        case .wait:
            // A queue scales up at once, not on the next tick.
            autoscale(containerID)
            let start = ContinuousClock.now
            let upstream = await waitForSlot(waiter, of: containerID, timeout: configuration.wakeTimeout)
            metrics?.recordQueueWait(containerID: containerID, duration: ContinuousClock.now - start)
            guard let upstream else {
                return .unavailable("\(entry.container.name): no instance was free within \(configuration.wakeTimeout)")
            }
            return .upstream(upstream)
        }
    }

    /// The request takes a slot of the least busy ready instance, or (`mayWait`) a place in the
    /// queue; without `mayWait` a request that would wait gets nil and leaves nothing behind.
    private func arrive(_ entry: RouteCache.Entry, ready: [String: Upstream], mayWait: Bool)
        -> (arrival: DispatchState.Arrival?, waiter: DispatchState.WaiterID) {
        let policy = entry.serving.spec.scaling
        let (arrival, waiter, handed) = state.withLock { state in
            var arrival: DispatchState.Arrival?
            var waiter: DispatchState.WaiterID = 0
            if mayWait {
                state.nextWaiter += 1
                waiter = state.nextWaiter
            }
            let handed = Self.changeTraffic(&state, entry.container.id, default: newTraffic(policy)) { traffic in
                traffic.lastActive = .now
                let handed = traffic.dispatch.update(ready: ready, concurrency: policy.concurrency)
                arrival = mayWait ? traffic.dispatch.arrive(waiter) : traffic.dispatch.arriveWithoutWaiting()
                return handed
            }
            if arrival == .wait { state.waiters[waiter] = .queued }
            return (arrival, waiter, Self.claim(handed, in: &state))
        }
        Self.resume(handed)
        return (arrival, waiter)
    }

    private func refused(_ entry: RouteCache.Entry) -> Route {
        metrics?.recordQueueRefused(containerID: entry.container.id)
        return .unavailable("\(entry.container.name): every instance is busy and \(configuration.queueLimit) requests wait already")
    }

    /// The container's traffic, changed in place: a copy taken out and written back would copy
    /// its dispatch tables on every request.
    static func changeTraffic<Result>(_ state: inout State, _ containerID: String, default make: @autoclosure () -> ContainerTraffic,
                                      _ change: (inout ContainerTraffic) -> Result) -> Result {
        change(&state.containers[containerID, default: make()])
    }

    func newTraffic(_ policy: ScalingPolicy, now: ContinuousClock.Instant = .now) -> ContainerTraffic {
        ContainerTraffic(dispatch: DispatchState(concurrency: policy.concurrency, queueLimit: configuration.queueLimit),
                         autoscaler: AutoscalerState(target: policy.minInstances), lastActive: now)
    }

    private func waitForSlot(_ waiter: DispatchState.WaiterID, of containerID: String, timeout: Duration) async -> Upstream? {
        let timer = Task {
            // Instances that became ready are offered to the queue as their status changes
            // (`followInstances`); looking again now and then also covers a revision that
            // started serving while this request was being queued.
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                try await Task.sleep(for: min(.milliseconds(250), deadline - .now))
                self.refreshQueue(containerID)
            }
            let abandoned = self.state.withLock { state -> CheckedContinuation<Upstream?, Never>? in
                guard state.containers[containerID]?.dispatch.abandon(waiter) == true,
                      case .waiting(let continuation) = state.waiters.removeValue(forKey: waiter) else { return nil }
                return continuation
            }
            abandoned?.resume(returning: nil)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let early = state.withLock { state -> Upstream?? in
                switch state.waiters[waiter] {
                case .handed(let upstream):
                    state.waiters[waiter] = nil
                    return .some(upstream)
                case .queued:
                    state.waiters[waiter] = .waiting(continuation)
                    return nil
                case .waiting, nil:
                    return .some(nil)
                }
            }
            if let early { continuation.resume(returning: early) }
        }
    }

    /// Gives an instance's slot back; a queued request takes it.
    private func release(_ upstream: Upstream) {
        let id = RevisionDeployment.runtimeID(containerID: upstream.containerID, revision: upstream.revision,
                                              instance: upstream.instance)
        let handed = state.withLock { state -> [(CheckedContinuation<Upstream?, Never>, Upstream)] in
            // Changed in place (`?.`): no copy of the container's dispatch tables.
            state.containers[upstream.containerID]?.lastActive = .now
            guard let handed = state.containers[upstream.containerID]?.dispatch.finished(id) else { return [] }
            return Self.claim(handed, in: &state)
        }
        Self.resume(handed)
    }

    /// Hands queued requests the ready instances of their container now (one became ready).
    func refreshQueue(_ containerID: String) {
        guard let entry = routes.entry(for: containerID), entry.container.id == containerID else { return }
        let ready = readyInstances(entry)
        let handed = state.withLock { state -> [(CheckedContinuation<Upstream?, Never>, Upstream)] in
            guard state.containers[containerID]?.dispatch.queued ?? 0 > 0,
                  let handed = state.containers[containerID]?.dispatch.update(ready: ready, concurrency: entry.serving.spec.scaling.concurrency)
            else { return [] }
            return Self.claim(handed, in: &state)
        }
        Self.resume(handed)
    }

    /// The continuations of waiters handed an instance (those that already wait), to resume
    /// outside the lock; a waiter not yet waiting finds its instance when it starts to.
    static func claim(_ handed: [DispatchState.HandOver], in state: inout State) -> [(CheckedContinuation<Upstream?, Never>, Upstream)] {
        var resumable: [(CheckedContinuation<Upstream?, Never>, Upstream)] = []
        for (waiter, upstream) in handed {
            if case .waiting(let continuation) = state.waiters[waiter] {
                state.waiters[waiter] = nil
                resumable.append((continuation, upstream))
            } else {
                state.waiters[waiter] = .handed(upstream)
            }
        }
        return resumable
    }

    static func resume(_ handed: [(CheckedContinuation<Upstream?, Never>, Upstream)]) {
        for (continuation, upstream) in handed { continuation.resume(returning: upstream) }
    }

    // MARK: - Draining

    /// Takes the instance out of dispatch and waits until it serves no request, or the drain
    /// timeout passes. Returns where it listened, for the proxy to close pooled connections.
    @discardableResult
    public func drain(_ runtimeID: String) async -> Upstream? {
        guard let containerID = RevisionDeployment.parse(runtimeID)?.containerID else { return nil }
        let policy = routes.entry(for: containerID)?.serving.spec.scaling ?? .default
        let upstream = state.withLock { state -> Upstream? in
            // Recorded even before any request came, so that none is sent to it from now on.
            var traffic = state.containers[containerID] ?? newTraffic(policy)
            let known = traffic.dispatch.instances[runtimeID]?.upstream
            traffic.dispatch.drain(runtimeID)
            state.containers[containerID] = traffic
            return known
        }
        let deadline = ContinuousClock.now + configuration.drainTimeout
        while inFlight(runtimeID) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return upstream
    }
}

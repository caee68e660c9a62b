import BerthModel
import Foundation
import Logging
import Runtime
import ServiceLifecycle
import Store
import Synchronization

/// Drives the runtime from the desired state in the store: data flows API → store → here →
/// runtime → containerd. The API records a change and calls `apply(_:)`; the reconciler reads
/// the store and converges that container: first start, rollout of a new revision, deletion.
/// Runtime status changes flow back into the store, so what the API reports survives restarts.
///
/// Level-triggered, as the kubelet's sync loop: a pass reads the whole desired state of one
/// container and acts on the difference, so any pass may be cut short and the next one picks
/// up. A failed pass is retried with back-off, every container is re-checked on a period, and
/// a new intent from the API cancels the pass under way (a DELETE does not wait for a rollout).
/// One container is converged by at most one pass at a time; different containers concurrently.
public final class Reconciler: Service, Sendable {
    let database: BerthDatabase
    let runtime: any RevisionRuntime
    let logger: Logger
    /// How long a new revision may take to become ready before its rollout is abandoned.
    let rolloutTimeout: Duration
    /// How often every container is compared with the runtime, changed or not.
    let resyncPeriod: Duration

    private let requests: AsyncStream<String>
    private let request: AsyncStream<String>.Continuation
    private let queue: Mutex<ConvergeQueue>
    /// The pass under way per container, for a newer intent to cancel.
    private let passes = Mutex<[String: Task<Void, any Error>]>([:])
    private let recovered = Atomic(false)
    let hooks: ReconcilerHooks
    /// The autoscaler's instance targets and what the instances above reservations hold.
    let scaleBook = Mutex(ScaleBook())
    /// Picks GPUs for instances above the first (count, model); nil on a node without GPUs.
    let gpuChooser: (@Sendable (Int, String?) -> GPUChooser)?

    public init(database: BerthDatabase, runtime: any RevisionRuntime, rolloutTimeout: Duration = .seconds(300),
                resyncPeriod: Duration = .seconds(30), retryDelay: Duration = .milliseconds(500),
                hooks: ReconcilerHooks = ReconcilerHooks(), gpuChooser: (@Sendable (Int, String?) -> GPUChooser)? = nil,
                logger: Logger = Logger(label: "berth.reconciler")) {
        self.gpuChooser = gpuChooser
        self.database = database
        self.runtime = runtime
        self.rolloutTimeout = rolloutTimeout
        self.resyncPeriod = resyncPeriod
        self.hooks = hooks
        self.logger = logger
        var queue = ConvergeQueue()
        queue.initialDelay = retryDelay
        self.queue = Mutex(queue)
        (requests, request) = AsyncStream.makeStream(of: String.self)
    }

    /// The container's desired state changed (the API recorded a new intent): converge it, and
    /// cancel a pass under way, which worked from the older intent.
    public func apply(_ containerID: String) {
        passes.withLock { $0[containerID]?.cancel() }
        request.yield(containerID)
    }

    /// The autoscaler wants `instances` of the container's serving revision: recorded, and
    /// converged in a pass of its own (a scale change never cancels a rollout under way).
    public func scale(_ containerID: String, to instances: Int) {
        let changed = scaleBook.withLock { book in
            guard book.targets[containerID] != instances else { return false }
            book.targets[containerID] = instances
            return true
        }
        if changed { recheck(containerID) }
    }

    /// The instances the container's serving revision runs or starts now (0 when unknown).
    public func desiredInstances(_ containerID: String) -> Int {
        scaleBook.withLock { $0.planned[containerID] ?? 0 }
    }

    /// Changes whenever a pass plans another instance count for a container.
    public var scaleVersion: UInt64 { scaleBook.withLock { $0.version } }

    /// Why some instances the autoscaler asked for wait, when the node is short.
    public func instanceShortfall(_ containerID: String) -> String? {
        scaleBook.withLock { $0.shortfalls[containerID] }
    }

    /// Compare the container with the runtime once more, without cutting a pass short.
    func recheck(_ containerID: String) {
        request.yield(containerID)
    }

    /// True once the containers found at start were adopted or started.
    public var isRecovered: Bool { recovered.load(ordering: .acquiring) }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.syncStatuses() }
                group.addTask {
                    await self.recover()
                    await self.resyncAndRetry()
                }
                for await containerID in self.requests {
                    guard self.queue.withLock({ $0.request(containerID) }) else { continue }
                    group.addTask { await self.work(on: containerID) }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.request.finish()
        }
    }

    // MARK: - Passes

    private func work(on containerID: String) async {
        while !Task.isCancelled {
            let pass = Task { try await self.converge(containerID) }
            passes.withLock { $0[containerID] = pass }
            var failure: (any Error)?
            do {
                // The pass is this worker's: cancelled with it (berthd stopping) or by `apply`.
                try await withTaskCancellationHandler { try await pass.value } onCancel: { pass.cancel() }
            } catch is CancellationError {
                // Superseded by a newer intent, which queued the next pass.
            } catch {
                failure = error
            }
            passes.withLock { if $0[containerID] == pass { $0[containerID] = nil } }
            let (again, retryIn) = queue.withLock { $0.finished(containerID, succeeded: failure == nil, now: .now) }
            if let failure, let retryIn { reportFailure(containerID, failure, retryIn: retryIn) }
            if !again { return }
        }
    }

    /// A failed pass: the container's status says what went wrong and that it is retried.
    private func reportFailure(_ containerID: String, _ error: any Error, retryIn: Duration) {
        logger.error("converging failed; retrying", metadata: ["container": "\(containerID)", "error": "\(error)", "in": "\(retryIn)"])
        guard let container = try? database.container(id: containerID), container.phase != .deleting else { return }
        try? database.setStatus(containerID: containerID, phase: container.phase,
                                message: "\(error); retrying in \(retryIn)")
    }

    /// Retries failed passes when their back-off ends, and re-checks every container (and every
    /// revision the runtime runs for a container the store no longer has) each period. The
    /// re-checks are spread over the period, a share each tick: a node with a thousand containers
    /// once re-checked them all at once, and the API's requests waited behind that burst (p99 in
    /// the hundreds of milliseconds every 30 s in bench/api).
    private func resyncAndRetry() async {
        let tick = Duration.milliseconds(250)
        var lastResync = ContinuousClock.now
        var pending: [String] = []
        var perTick = 1
        while !Task.isCancelled {
            try? await Task.sleep(for: tick)
            for id in queue.withLock({ $0.due(now: .now) }) { recheck(id) }
            if pending.isEmpty, ContinuousClock.now - lastResync >= resyncPeriod {
                lastResync = .now
                var ids = Set((try? database.containers(owner: nil))?.map(\.id) ?? [])
                for runtimeID in runtime.statuses.keys {
                    if let parsed = Self.parse(runtimeID) { ids.insert(parsed.containerID) }
                }
                pending = ids.sorted().reversed()
                perTick = Self.resyncShare(of: pending.count, period: resyncPeriod, tick: tick)
            }
            for _ in 0..<min(perTick, pending.count) { recheck(pending.removeLast()) }
        }
    }

    /// How many containers each tick re-checks so that `count` of them take about half the
    /// period (a later period starts only when the last one is through).
    static func resyncShare(of count: Int, period: Duration, tick: Duration) -> Int {
        let ticks = max(1, Int((period / 2) / tick))
        return max(1, (count + ticks - 1) / ticks)
    }

    // MARK: - Recovery

    /// Adopts what runs, starts what should, keeps what idles, removes what nothing asks for,
    /// and resumes rollouts and deletions cut short by a crash. Retries while containerd does
    /// not answer.
    private func recover() async {
        var delay = Duration.milliseconds(250)
        while !Task.isCancelled {
            do {
                let desired = try database.desiredState()
                let idle = try database.idleRevisions()
                var deployments: [RevisionDeployment] = []
                var idling: [RevisionDeployment] = []
                for (container, revisions) in desired where container.phase != .deleting {
                    for revision in revisions where revision.phase == .active || revision.phase == .pending {
                        let deployment = try deployment(container, revision)
                        if idle[container.id] == revision.number, revision.number == container.revision,
                           container.latestRevision == container.revision {
                            idling.append(deployment)
                        } else {
                            // The instances that always run; those the autoscaler added go, and
                            // it adds them again if the load is still there.
                            // GPU instances above the first get their devices in the first pass.
                            let count = revision.number == container.revision && revision.spec.gpu == 0
                                ? revision.spec.scaling.reservedInstances : 1
                            deployments += (0..<count).map { deployment.instance($0) }
                        }
                    }
                }
                let report = try await runtime.recover(desired: deployments, idle: idling)
                logger.info("recovered", metadata: [
                    "adopted": "\(report.adopted.count)", "started": "\(report.started.count)",
                    "idle": "\(idling.count)", "removed": "\(report.removed.count)",
                ])
                recovered.store(true, ordering: .releasing)
                for (container, _) in desired { recheck(container.id) }
                return
            } catch {
                logger.warning("recovery failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    func deployment(_ container: StoredContainer, _ revision: StoredRevision) throws -> RevisionDeployment {
        try RevisionDeployment(container, revision, gpusFrom: database)
    }
}

/// Points where other parts plug into convergence (proxy draining).
public struct ReconcilerHooks: Sendable {
    /// Called before a revision's runtime container is removed (after a rollout or on delete):
    /// the proxy drains requests in flight to it.
    public var beforeRetiring: @Sendable (_ runtimeID: String) async -> Void
    /// Called after a revision was removed from the runtime and its GPUs were released.
    public var afterRemoving: @Sendable (_ containerID: String, _ revision: Int) async -> Void

    public init(beforeRetiring: @escaping @Sendable (String) async -> Void = { _ in },
                afterRemoving: @escaping @Sendable (String, Int) async -> Void = { _, _ in }) {
        self.beforeRetiring = beforeRetiring
        self.afterRemoving = afterRemoving
    }
}

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
/// One container is converged at a time by at most one task (changes arriving meanwhile are
/// merged into one more pass), while different containers converge concurrently.
public final class Reconciler: Service, Sendable {
    let database: BerthDatabase
    let runtime: ContainerRuntime
    let logger: Logger
    /// How long a new revision may take to become ready before its rollout is abandoned.
    let rolloutTimeout: Duration

    private let requests: AsyncStream<String>
    private let request: AsyncStream<String>.Continuation
    private let queue = Mutex<(busy: Set<String>, dirty: Set<String>)>(([], []))
    private let recovered = Atomic(false)
    let hooks: ReconcilerHooks

    public init(database: BerthDatabase, runtime: ContainerRuntime, rolloutTimeout: Duration = .seconds(300),
                hooks: ReconcilerHooks = ReconcilerHooks(), logger: Logger = Logger(label: "berth.reconciler")) {
        self.database = database
        self.runtime = runtime
        self.rolloutTimeout = rolloutTimeout
        self.hooks = hooks
        self.logger = logger
        (requests, request) = AsyncStream.makeStream(of: String.self)
    }

    /// The container's desired state changed (or may have): converge it.
    public func apply(_ containerID: String) {
        request.yield(containerID)
    }

    /// True once the containers found at start were adopted or started.
    public var isRecovered: Bool { recovered.load(ordering: .acquiring) }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.syncStatuses() }
                group.addTask { await self.recover() }
                for await containerID in self.requests {
                    guard self.claim(containerID) else { continue }
                    group.addTask { await self.work(on: containerID) }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.request.finish()
        }
    }

    // MARK: - The queue

    /// Takes the container for a worker, or marks it for another pass if a worker has it.
    private func claim(_ containerID: String) -> Bool {
        queue.withLock { queue in
            if queue.busy.contains(containerID) {
                queue.dirty.insert(containerID)
                return false
            }
            queue.busy.insert(containerID)
            return true
        }
    }

    private func work(on containerID: String) async {
        while true {
            do {
                try await converge(containerID)
            } catch {
                logger.error("converging failed", metadata: ["container": "\(containerID)", "error": "\(error)"])
            }
            let again = queue.withLock { queue in
                if queue.dirty.remove(containerID) != nil { return true }
                queue.busy.remove(containerID)
                return false
            }
            if !again { return }
        }
    }

    // MARK: - Recovery

    /// Adopts what runs, starts what should, removes what nothing asks for, and resumes
    /// rollouts and deletions cut short by a crash. Retries while containerd does not answer.
    private func recover() async {
        var delay = Duration.milliseconds(250)
        while !Task.isCancelled {
            do {
                let desired = try database.desiredState()
                var deployments: [RevisionDeployment] = []
                for (container, revisions) in desired where container.phase != .deleting {
                    for revision in revisions where revision.phase == .active || revision.phase == .pending {
                        deployments.append(Self.deployment(container, revision))
                    }
                }
                let report = try await runtime.recover(desired: deployments)
                logger.info("recovered", metadata: [
                    "adopted": "\(report.adopted.count)", "started": "\(report.started.count)", "removed": "\(report.removed.count)",
                ])
                for (container, _) in desired { apply(container.id) }
                recovered.store(true, ordering: .releasing)
                return
            } catch {
                logger.warning("recovery failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    static func deployment(_ container: StoredContainer, _ revision: StoredRevision) -> RevisionDeployment {
        RevisionDeployment(containerID: container.id, name: container.name, revision: revision.number, spec: revision.spec)
    }
}

/// Points where other parts plug into convergence (GPU allocation, proxy draining).
public struct ReconcilerHooks: Sendable {
    /// Called before a revision's runtime container is removed (after a rollout or on delete):
    /// the proxy drains requests in flight to it.
    public var beforeRetiring: @Sendable (_ runtimeID: String) async -> Void
    /// Called after a revision was removed from the runtime (releases its GPUs).
    public var afterRemoving: @Sendable (_ containerID: String, _ revision: Int) async -> Void

    public init(beforeRetiring: @escaping @Sendable (String) async -> Void = { _ in },
                afterRemoving: @escaping @Sendable (String, Int) async -> Void = { _, _ in }) {
        self.beforeRetiring = beforeRetiring
        self.afterRemoving = afterRemoving
    }
}

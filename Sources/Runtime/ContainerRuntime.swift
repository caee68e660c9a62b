import CNI
import ContainerdClient
import Foundation
import ImagePull
import Logging
import OCI
import ServiceLifecycle
import Synchronization

/// Runs revisions as containerd tasks and keeps them as asked: one `TaskSupervisor` per
/// revision, fed by one subscription to containerd's task events.
///
/// A `Service`: `run()` hosts the supervisors' queues and the event subscription. When it ends
/// (berthd stopping), containers keep running under containerd's shims; the next berthd adopts
/// them with `recover(desired:)`.
public final class ContainerRuntime: Service, Sendable {
    let context: RuntimeContext
    /// Leases of this node made before this were left by an earlier berthd (`recover`).
    let createdAt = Date()
    private let board = StatusBoard()
    private let supervisors = Mutex<[String: TaskSupervisor]>([:])
    /// New supervisors, for `run()` to host.
    private let added: AsyncStream<TaskSupervisor>
    private let add: AsyncStream<TaskSupervisor>.Continuation

    public init(configuration: RuntimeConfiguration, containerd: ContainerdClient, puller: ImagePuller,
                network: CNINetwork, logger: Logger = Logger(label: "berth.runtime")) {
        var client = containerd
        client.snapshotter = configuration.snapshotter
        context = RuntimeContext(configuration: configuration, containerd: client, puller: puller, network: network,
                                 logs: ContainerLogs(configuration: configuration.logs), probe: ReadinessProbe(),
                                 logger: logger)
        (added, add) = AsyncStream.makeStream(of: TaskSupervisor.self)
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.monitorEvents() }
                for await supervisor in added {
                    group.addTask { await self.host(supervisor) }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.add.finish()
        }
    }

    // MARK: - Asking for states

    /// Runs the revision: starts it (or adopts the task a previous berthd left), or keeps it
    /// running. A revision the traffic controller paused or stopped for want of requests stays
    /// so: only `wake` starts it again.
    public func deploy(_ deployment: RevisionDeployment) {
        supervisor(for: deployment).send(.deploy)
    }

    /// A request wants the revision: resumes it if paused, starts it if stopped or not yet
    /// supervised. A pause or stop under way finishes first, then the revision starts. Returns
    /// the status once it settles: running (with its endpoint), failed or backing off, deleted
    /// (the caller routes again), or stopped by a later stop; nil if none of these within
    /// `timeout`.
    public func wake(_ deployment: RevisionDeployment, timeout: Duration) async -> RuntimeStatus? {
        let supervisor = supervisor(for: deployment)
        let waiter = supervisor.newWaiterID()
        let timer = Task {
            try await Task.sleep(for: timeout)
            supervisor.send(.forget(waiter))
        }
        defer { timer.cancel() }
        let (status, settled) = await withCheckedContinuation { supervisor.send(.wake(waiter, $0)) }
        return settled ? status : nil
    }

    /// Stops the revision's task (SIGTERM, grace period, SIGKILL) and releases its address; its
    /// image, layers and written files stay for the next start. A start under way is cancelled
    /// (a pull, a probe) or finished first (a launch); a later `wake` runs after the stop.
    public func stop(_ runtimeID: String) async {
        guard let supervisor = supervisors.withLock({ $0[runtimeID] }) else { return }
        await withCheckedContinuation { supervisor.send(.stop($0)) }
    }

    /// Freezes the revision's processes (idle): memory stays, CPU is freed. False when it was
    /// not running.
    @discardableResult
    public func pause(_ runtimeID: String) async -> Bool {
        guard let supervisor = supervisors.withLock({ $0[runtimeID] }) else { return false }
        return await withCheckedContinuation { supervisor.send(.pause($0)) }
    }

    /// Thaws a paused revision (restarting it if thawing fails); true when it runs afterwards.
    @discardableResult
    public func resume(_ runtimeID: String) async -> Bool {
        guard let supervisor = supervisors.withLock({ $0[runtimeID] }) else { return false }
        return await withCheckedContinuation { supervisor.send(.resume($0)) }
    }

    /// Removes everything of the revision: task, container, snapshot, network, storage, logs.
    /// A pull or a start under way is cancelled at once; returns when the task is gone.
    public func delete(_ runtimeID: String) async throws {
        guard let supervisor = supervisors.withLock({ $0[runtimeID] }) else { return }
        try await withCheckedThrowingContinuation { supervisor.send(.delete($0)) }
        supervisors.withLock { supervisors in
            if supervisors[runtimeID] === supervisor { supervisors[runtimeID] = nil }
        }
    }

    public func status(_ runtimeID: String) -> RuntimeStatus? {
        board[runtimeID]
    }

    public var statuses: [String: RuntimeStatus] { board.all }

    /// The statuses of every revision and instance of one Berth container, by runtime id.
    public func statuses(ofContainer containerID: String) -> [String: RuntimeStatus] {
        board.statuses(ofContainer: containerID)
    }

    /// Changes with every status published.
    public var statusVersion: UInt64 { board.version }

    /// Where the pull of `image` (a revision's image as written) stands, while one is under way.
    public func pullProgress(image: String) -> PullProgress? {
        guard let reference = try? ImageReference(parsing: image) else { return nil }
        return context.puller.progress(of: reference)
    }

    /// Changes whenever a pull makes progress, starts or ends.
    public var pullProgressVersion: UInt64 { context.puller.progressVersion }

    /// Every status change from now on, as (runtime id, status), until the consumer stops.
    public func statusChanges() -> AsyncStream<(String, RuntimeStatus)> {
        board.changes()
    }

    /// Waits until the revision's status satisfies `condition`, or throws after `timeout`.
    @discardableResult
    public func waitForStatus(_ runtimeID: String, timeout: Duration,
                              _ condition: @escaping @Sendable (RuntimeStatus) -> Bool) async throws -> RuntimeStatus {
        let changes = board.changes()
        if let current = board[runtimeID], condition(current) { return current }
        return try await withThrowingTaskGroup(of: RuntimeStatus?.self) { group in
            group.addTask {
                for await (id, status) in changes where id == runtimeID && condition(status) {
                    return status
                }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            if let status = try await group.next() ?? nil { return status }
            throw RuntimeError.timeout("\(runtimeID) did not reach the expected state within \(timeout); it is \(board[runtimeID].map { "\($0.phase) \($0.message ?? "")" } ?? "unknown")")
        }
    }

    // MARK: - Hosting

    private func supervisor(for deployment: RevisionDeployment) -> TaskSupervisor {
        let (supervisor, isNew) = supervisors.withLock { supervisors in
            if let existing = supervisors[deployment.runtimeID] { return (existing, false) }
            let board = self.board
            let id = deployment.runtimeID
            let created = TaskSupervisor(deployment: deployment, context: context) { board.publish(id, $0) }
            supervisors[id] = created
            return (created, true)
        }
        if isNew {
            board.publish(deployment.runtimeID, RuntimeStatus(phase: .pending))
            add.yield(supervisor)
        }
        return supervisor
    }

    /// A supervisor's queue; its operations run as tasks of their own, cancelled when it ends.
    private func host(_ supervisor: TaskSupervisor) async {
        for await command in supervisor.commands {
            await supervisor.handle(command)
        }
        await supervisor.shutDown()
    }

    /// Dispatches task events to supervisors; when the stream breaks (containerd restarting), it
    /// subscribes again and has every supervisor compare with containerd, so no exit is missed.
    private func monitorEvents() async {
        var delay = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                try await context.containerd.subscribeEvents(topicFilter: #"topic~="/tasks/""#, onSubscribed: {
                    for supervisor in self.supervisors.withLock({ Array($0.values) }) {
                        supervisor.send(.reconcile)
                    }
                }) { envelope in
                    guard let id = envelope.event.containerID,
                          let supervisor = self.supervisors.withLock({ $0[id] }) else { return }
                    supervisor.send(.event(envelope.event))
                }
                delay = .milliseconds(100)
            } catch {
                if Task.isCancelled { return }
                context.logger.warning("containerd event stream ended; resubscribing", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
    }
}

extension ContainerdEvent {
    var containerID: String? {
        switch self {
        case .taskStart(let id, _), .taskExit(let id, _, _, _, _), .taskOOM(let id), .taskDelete(let id, _, _),
             .taskPaused(let id), .taskResumed(let id):
            return id
        case .other:
            return nil
        }
    }
}

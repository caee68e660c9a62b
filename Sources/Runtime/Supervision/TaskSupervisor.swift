import CNI
import ContainerdClient
import Foundation
import ImagePull
import Logging
import OCI
import Synchronization

/// Keeps one revision in the state asked of it: the executor of its `RevisionLifecycle`.
///
/// Intents and results arrive on one queue, in order, and each is handled at once: the lifecycle
/// decides, and this actor carries out what it returns. Long work (pull, launch, probe, stop,
/// removal, back-off timers) runs as child tasks that post their result back to the queue, so a
/// delete is seen while a pull is still under way and cancels it, instead of waiting behind it.
actor TaskSupervisor {
    typealias Waiter = RevisionLifecycle.Waiter

    enum Command: Sendable {
        /// The reconciler's run: start or adopt, unless idle on purpose.
        case deploy
        /// A request's run: the continuation learns the status once it settles; false when the
        /// waiter was forgotten (the wake timed out) first.
        case wake(Waiter, CheckedContinuation<(RuntimeStatus, Bool), Never>)
        case stop(CheckedContinuation<Void, Never>?)
        case pause(CheckedContinuation<Bool, Never>)
        case resume(CheckedContinuation<Bool, Never>)
        case delete(CheckedContinuation<Void, any Error>?)
        case forget(Waiter)
        case event(ContainerdEvent)
        /// containerd came back or events may have been missed: compare with its state.
        case reconcile
        case result(OperationResult)
    }

    enum OperationResult: Sendable {
        case adopted(Int, RevisionLifecycle.FoundTask?)
        case pulled(Int, PulledImage)
        case pullFailed(Int, RevisionLifecycle.PullFailure)
        case launched(Int, pid: UInt32?, attachment: NetworkAttachment?, failure: String?)
        case probed(Int, ready: Bool)
        case paused(Int, ok: Bool)
        case resumed(Int, ok: Bool)
        case stopped(Int)
        case cleanedUp(Int)
        case removed(Int, (any Error)?)
        case timer(Int)
        case checked(pid: UInt32, gone: Bool, exitStatus: UInt32?)
    }

    private enum Reply {
        case void(CheckedContinuation<Void, Never>)
        case bool(CheckedContinuation<Bool, Never>)
        case wake(CheckedContinuation<(RuntimeStatus, Bool), Never>)
        case delete(CheckedContinuation<Void, any Error>)
    }

    let deployment: RevisionDeployment
    let context: RuntimeContext
    let launcher: RevisionLauncher
    private let publish: @Sendable (RuntimeStatus) -> Void
    nonisolated let commands: AsyncStream<Command>
    private nonisolated let queue: AsyncStream<Command>.Continuation
    private nonisolated let waiterIDs = Mutex(0)

    private var lifecycle: RevisionLifecycle
    private var published: RuntimeStatus?
    private var operations: [Int: Task<Void, Never>] = [:]
    private var replies: [Waiter: Reply] = [:]
    private var removalError: (any Error)?
    var oomKilled = false
    /// What this revision's first start resolved with the registry; later starts reuse it.
    var resolvedImage: PulledImage?

    init(deployment: RevisionDeployment, context: RuntimeContext, publish: @escaping @Sendable (RuntimeStatus) -> Void) {
        self.deployment = deployment
        self.context = context
        self.launcher = RevisionLauncher(context: context, deployment: deployment)
        self.publish = publish
        lifecycle = RevisionLifecycle(image: deployment.spec.image, port: deployment.spec.port,
                                      grace: context.configuration.stopGracePeriod,
                                      backoff: context.configuration.restartBackoff)
        (commands, queue) = AsyncStream.makeStream(of: Command.self)
    }

    var runtimeID: String { deployment.runtimeID }

    nonisolated func newWaiterID() -> Waiter {
        waiterIDs.withLock { id in
            id += 1
            return id
        }
    }

    /// A command sent after the queue closed (the revision was deleted, or the runtime is
    /// shutting down) is answered at once, so that no caller waits forever.
    nonisolated func send(_ command: Command) {
        guard case .terminated = queue.yield(command) else { return }
        switch command {
        case .stop(let done): done?.resume()
        case .pause(let done), .resume(let done): done.resume(returning: false)
        case .delete(let done): done?.resume()
        case .wake(_, let done): done.resume(returning: (RuntimeStatus(phase: .deleted), true))
        default: break
        }
    }

    /// Handles one command; nothing here waits on containerd or the registry.
    func handle(_ command: Command) {
        let actions: [RevisionLifecycle.Action]
        switch command {
        case .deploy:
            actions = lifecycle.deploy()
        case .wake(let id, let done):
            replies[id] = .wake(done)
            actions = lifecycle.run(waiter: id)
        case .stop(let done):
            actions = lifecycle.stop(waiter: register(done.map(Reply.void)))
        case .pause(let done):
            actions = lifecycle.pause(waiter: register(.bool(done))!)
        case .resume(let done):
            actions = lifecycle.resume(waiter: register(.bool(done))!)
        case .delete(let done):
            actions = lifecycle.delete(waiter: register(done.map(Reply.delete)))
        case .forget(let id):
            actions = lifecycle.forget(id)
        case .event(let event):
            actions = handle(event)
        case .reconcile:
            actions = lifecycle.reconnected()
        case .result(let result):
            actions = apply(result)
        }
        // Published before the actions are carried out: a waiter they resume (a wake, a
        // resume) reads the board at once and must find the status it was told.
        publishIfChanged()
        for action in actions { carryOut(action) }
        publishIfChanged()
        if lifecycle.isDeleted { queue.finish() }
    }

    /// The queue ended (deleted, or berthd stopping): nothing more runs, and nobody waits.
    func shutDown() {
        queue.finish()
        for operation in operations.values { operation.cancel() }
        operations.removeAll()
        for reply in replies.values {
            switch reply {
            case .void(let done): done.resume()
            case .bool(let done): done.resume(returning: false)
            case .wake(let done): done.resume(returning: (lifecycle.status, false))
            case .delete(let done):
                if lifecycle.isDeleted { done.resume() } else { done.resume(throwing: CancellationError()) }
            }
        }
        replies.removeAll()
    }

    private func register(_ reply: Reply?) -> Waiter? {
        guard let reply else { return nil }
        let id = newWaiterID()
        replies[id] = reply
        return id
    }

    private func handle(_ event: ContainerdEvent) -> [RevisionLifecycle.Action] {
        switch event {
        case .taskOOM:
            oomKilled = true
            return []
        case .taskExit(_, let execID, let pid, let exitStatus, _):
            guard execID.isEmpty else { return [] }
            guard pid == lifecycle.pid else {
                lifecycle.taskExitedDuringLaunch(pid: pid, exitDescription(code: Int32(bitPattern: exitStatus)))
                return []
            }
            return lifecycle.taskExited(pid: pid, exitDescription(code: Int32(bitPattern: exitStatus)))
        default:
            return []
        }
    }

    private func apply(_ result: OperationResult) -> [RevisionLifecycle.Action] {
        switch result {
        case .adopted(let op, let found):
            operations[op] = nil
            return lifecycle.adopted(op, found)
        case .pulled(let op, let image):
            operations[op] = nil
            guard lifecycle.state == .pulling(op) else { return [] }
            resolvedImage = image
            return lifecycle.pulled(op, digest: image.digest.description)
        case .pullFailed(let op, let failure):
            operations[op] = nil
            return lifecycle.pullFailed(op, failure)
        case .launched(let op, let pid, let attachment, let failure):
            operations[op] = nil
            return lifecycle.launched(op, pid: pid, address: attachment?.address, failure: failure)
        case .probed(let op, let ready):
            operations[op] = nil
            return lifecycle.probed(op, ready: ready, timeout: context.configuration.readinessTimeout, now: .now)
        case .paused(let op, let ok):
            operations[op] = nil
            return lifecycle.pauseEnded(op, ok: ok)
        case .resumed(let op, let ok):
            operations[op] = nil
            return lifecycle.resumeEnded(op, ok: ok)
        case .stopped(let op):
            operations[op] = nil
            return lifecycle.stopEnded(op)
        case .cleanedUp(let op):
            operations[op] = nil
            return lifecycle.cleanedUp(op, now: .now)
        case .removed(let op, let error):
            operations[op] = nil
            removalError = error
            return lifecycle.removed(op, failure: error.map { "\($0)" })
        case .timer(let op):
            operations[op] = nil
            return lifecycle.timerFired(op)
        case .checked(let pid, let gone, let exitStatus):
            guard gone, pid == lifecycle.pid else { return [] }
            return lifecycle.taskExited(pid: pid, exitDescription(code: exitStatus.map { Int32(bitPattern: $0) }))
        }
    }

    // MARK: - Carrying actions out

    private func carryOut(_ action: RevisionLifecycle.Action) {
        switch action {
        case .adopt(let op):
            spawn(op) { s in .adopted(op, await s.findTask()) }
        case .pull(let op):
            spawn(op) { s in await s.pull(op) }
        case .launch(let op):
            oomKilled = false
            spawn(op) { s in await s.launch(op) }
        case .probe(let op, let address, let port):
            let probe = context.probe
            let timeout = context.configuration.readinessTimeout
            spawn(op) { _ in .probed(op, ready: await probe.wait(address: address, port: port, timeout: timeout)) }
        case .pause(let op):
            let (client, id) = (context.containerd, runtimeID)
            spawn(op) { s in .paused(op, ok: await s.attempt("pause") { try await client.pauseTask(containerID: id) }) }
        case .resume(let op):
            let (client, id) = (context.containerd, runtimeID)
            spawn(op) { s in .resumed(op, ok: await s.attempt("resume") { try await client.resumeTask(containerID: id) }) }
        case .stop(let op):
            let (resources, grace) = (launcher.resources, context.configuration.stopGracePeriod)
            spawn(op) { s in
                _ = await s.attempt("stop") { try await resources.stopTask(grace: grace) }
                await resources.release()
                return .stopped(op)
            }
        case .cleanUp(let op, let kill):
            let resources = launcher.resources
            spawn(op) { s in
                _ = await s.attempt("deleting the ended task") {
                    if kill { return try await resources.stopTask(grace: .zero) }
                    try await resources.deleteEndedTask()
                }
                return .cleanedUp(op)
            }
        case .remove(let op):
            let (resources, grace) = (launcher.resources, context.configuration.stopGracePeriod)
            spawn(op) { _ in
                do {
                    try await resources.removeAll(grace: grace)
                    return .removed(op, nil)
                } catch {
                    return .removed(op, error)
                }
            }
        case .timer(let op, let delay):
            spawn(op) { _ in
                try? await Task.sleep(for: delay)
                return Task.isCancelled ? nil : .timer(op)
            }
        case .cancel(let op):
            operations.removeValue(forKey: op)?.cancel()
        case .check(let pid):
            let (client, id) = (context.containerd, runtimeID)
            spawn(nil) { _ in
                guard let task = try? await client.task(containerID: id) else { return .checked(pid: pid, gone: true, exitStatus: nil) }
                let alive = task.pid == pid && (task.status == .running || task.status == .paused || task.status == .pausing)
                return .checked(pid: pid, gone: !alive, exitStatus: alive ? nil : task.exitStatus)
            }
        case .reply(let id, let answer):
            reply(id, answer)
        }
    }

    private func publishIfChanged() {
        if published != lifecycle.status {
            published = lifecycle.status
            publish(lifecycle.status)
        }
    }

    /// Runs `work` beside the queue; what it returns comes back through the queue, in order
    /// with the intents that came meanwhile.
    private func spawn(_ op: Int?, _ work: @escaping @Sendable (TaskSupervisor) async -> OperationResult?) {
        let task = Task {
            if let result = await work(self) { self.send(.result(result)) }
        }
        if let op { operations[op] = task }
    }

    private func reply(_ id: Waiter, _ answer: RevisionLifecycle.Answer) {
        guard let reply = replies.removeValue(forKey: id) else { return }
        switch (reply, answer) {
        case (.void(let done), _):
            done.resume()
        case (.bool(let done), .accepted(let ok)):
            done.resume(returning: ok)
        case (.bool(let done), _):
            done.resume(returning: false)
        case (.wake(let done), .accepted(false)):
            done.resume(returning: (lifecycle.status, false))
        case (.wake(let done), _):
            done.resume(returning: (lifecycle.status, true))
        case (.delete(let done), .failed(let message)):
            done.resume(throwing: removalError ?? RuntimeError.storage(message))
        case (.delete(let done), _):
            done.resume()
        }
    }
}

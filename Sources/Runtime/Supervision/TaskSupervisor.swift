import CNI
import ContainerdClient
import Foundation
import ImagePull
import Logging
import OCI

/// Keeps one revision in the state asked of it. Every operation goes through one command
/// queue, so a stop never interleaves with a start, and an exit learned from containerd's events
/// is handled after whatever was under way.
actor TaskSupervisor {
    enum Command: Sendable {
        /// Run the revision (start it, or adopt the task a previous berthd left running).
        case run
        case stop(CheckedContinuation<Void, Never>?)
        /// Freeze the running task, or thaw it; the continuation learns whether it happened.
        case pause(CheckedContinuation<Bool, Never>?)
        case resume(CheckedContinuation<Bool, Never>?)
        case delete(CheckedContinuation<Void, any Error>?)
        case event(ContainerdEvent)
        /// containerd came back or events may have been missed: compare with its state.
        case reconcile
        case retry(generation: Int)
        case probed(generation: Int, ready: Bool)
    }

    /// Work the queue's owner runs beside it: timers and readiness probes post a command back.
    enum FollowUp: Sendable {
        case after(Duration, Command)
        case probe(generation: Int, address: String, port: Int)
    }

    let deployment: RevisionDeployment
    private let context: RuntimeContext
    private let launcher: RevisionLauncher
    private let publish: @Sendable (RuntimeStatus) -> Void
    nonisolated let commands: AsyncStream<Command>
    private nonisolated let queue: AsyncStream<Command>.Continuation

    private var status = RuntimeStatus(phase: .pending)
    private var wantsRunning = false
    /// Bumped whenever the plan changes; timers and probes of an older generation are ignored.
    private var generation = 0
    private var backoff: RestartBackoff
    private var attachment: NetworkAttachment?
    private var taskPid: UInt32?
    private var taskStartedAt: ContinuousClock.Instant?
    private var oomKilled = false
    private(set) var isDeleted = false
    /// What this revision's first start resolved with the registry; later starts reuse it.
    private var resolvedImage: PulledImage?

    init(deployment: RevisionDeployment, context: RuntimeContext, publish: @escaping @Sendable (RuntimeStatus) -> Void) {
        self.deployment = deployment
        self.context = context
        self.launcher = RevisionLauncher(context: context, deployment: deployment)
        self.publish = publish
        self.backoff = RestartBackoff(policy: context.configuration.restartBackoff)
        (commands, queue) = AsyncStream.makeStream(of: Command.self)
    }

    /// A command sent after the queue closed (the revision was deleted, or the runtime is
    /// shutting down) is answered at once, so that no caller waits forever.
    nonisolated func send(_ command: Command) {
        guard case .terminated = queue.yield(command) else { return }
        switch command {
        case .stop(let done): done?.resume()
        case .pause(let done), .resume(let done): done?.resume(returning: false)
        case .delete(let done): done?.resume()
        default: break
        }
    }

    /// No more commands: later ones are answered by `send` itself.
    nonisolated func close() {
        queue.finish()
    }

    var runtimeID: String { deployment.runtimeID }

    /// Handles one command; what it returns runs beside the queue.
    func handle(_ command: Command) async -> [FollowUp] {
        switch command {
        case .run:
            wantsRunning = true
            switch status.phase {
            case .pending, .stopped, .failed:
                generation += 1
                return await start()
            case .paused:
                _ = await resume()
                return []
            default:
                return []
            }
        case .retry(let generation):
            guard generation == self.generation, wantsRunning else { return [] }
            return await start()
        case .probed(let generation, let ready):
            guard generation == self.generation else { return [] }
            return await probed(ready: ready)
        case .event(let event):
            return await handle(event)
        case .reconcile:
            return await reconcile()
        case .pause(let done):
            done?.resume(returning: await pause())
            return []
        case .resume(let done):
            done?.resume(returning: await resume())
            return []
        case .stop(let done):
            wantsRunning = false
            generation += 1
            await stop()
            done?.resume()
            return []
        case .delete(let done):
            wantsRunning = false
            generation += 1
            update { $0 = RuntimeStatus(phase: .deleted) }
            do {
                try await launcher.resources.removeAll(grace: context.configuration.stopGracePeriod)
                isDeleted = true
                queue.finish()
                done?.resume()
            } catch {
                done?.resume(throwing: error)
            }
            return []
        }
    }

    func isCurrent(_ generation: Int) -> Bool {
        generation == self.generation
    }

    // MARK: - Starting

    private func start() async -> [FollowUp] {
        if let adopted = await adoptRunningTask() { return adopted }
        let reference: ImageReference
        do {
            reference = try ImageReference(parsing: deployment.spec.image)
        } catch {
            return fail(.imagePullError, "\(error)", retry: false)
        }
        update { $0.phase = .pulling; $0.message = nil }
        let image: PulledImage
        do {
            image = try await context.puller.imageForStart(reference, resolved: resolvedImage)
            resolvedImage = image
        } catch {
            return fail(.imagePullError, "pulling \(reference): \(PullError.statusText(error))", retry: true)
        }
        update {
            $0.phase = .starting
            $0.imageDigest = image.digest.description
        }
        oomKilled = false
        do {
            let launched = try await launcher.launch(image: image)
            attachment = launched.attachment
            taskPid = launched.pid
            taskStartedAt = .now
            update {
                $0.pid = launched.pid
                $0.address = launched.attachment.address
                $0.port = deployment.spec.port
            }
            return [.probe(generation: generation, address: launched.attachment.address, port: deployment.spec.port)]
        } catch {
            context.logger.error("start failed", metadata: ["container": "\(runtimeID)", "error": "\(error)"])
            return fail(.startError, "starting: \(error)", retry: true)
        }
    }

    private func probed(ready: Bool) async -> [FollowUp] {
        if ready {
            update {
                $0.phase = .running
                $0.reason = nil
                $0.message = nil
                $0.startedAt = Date()
            }
            return []
        }
        // Not listening in time: treated as a crash, so it is restarted with back-off.
        let port = deployment.spec.port
        try? await context.containerd.killTask(containerID: runtimeID, signal: SIGKILL, all: true)
        return await exited(code: nil, forcedReason: (.notReady, "did not accept connections on port \(port) within \(context.configuration.readinessTimeout)"))
    }

    // MARK: - Exits

    private func handle(_ event: ContainerdEvent) async -> [FollowUp] {
        switch event {
        case .taskOOM:
            oomKilled = true
            return []
        case .taskExit(_, let execID, let pid, let exitStatus, _):
            guard execID.isEmpty, pid == taskPid, wantsRunning else { return [] }
            return await exited(code: Int32(bitPattern: exitStatus), forcedReason: nil)
        default:
            return []
        }
    }

    /// The task ended on its own: say why, clean up the task, and restart after the back-off.
    private func exited(code: Int32?, forcedReason: (RuntimeStatus.Reason, String)?) async -> [FollowUp] {
        generation += 1
        let uptime = taskStartedAt.map { ContinuousClock.now - $0 } ?? .zero
        taskPid = nil
        taskStartedAt = nil
        // Before the task is deleted: its cgroup still holds the OOM count.
        let (reason, detail) = forcedReason ?? exitReason(code: code)
        do {
            try await context.containerd.deleteTask(containerID: runtimeID)
        } catch let error as ContainerdError where error.code == .notFound {
        } catch {
            context.logger.warning("deleting exited task failed", metadata: ["container": "\(runtimeID)", "error": "\(error)"])
        }
        let delay = backoff.delay(afterRunOf: uptime)
        let restarts = backoff.restarts
        let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
        update {
            $0.phase = .failed
            $0.pid = nil
            $0.lastExitCode = code
            $0.restarts = restarts
            if restarts > 1 {
                $0.reason = .crashLoop
                $0.message = "crash loop: \(detail); restarted \(restarts - 1) times, next start in \(String(format: "%g", seconds)) s"
            } else {
                $0.reason = reason
                $0.message = "\(detail); restarting in \(String(format: "%g", seconds)) s"
            }
        }
        return [.after(delay, .retry(generation: generation))]
    }

    private func exitReason(code: Int32?) -> (RuntimeStatus.Reason, String) {
        if oomKilled || cgroupReportsOOM() {
            return (.oomKilled, "OOM killed: the container used more than its memory limit (\(deployment.spec.memory))")
        }
        if context.storage(runtimeID).isFull() {
            return (.ephemeralStorageExceeded, "ephemeral storage exceeded: the container filled its \(deployment.spec.ephemeralStorage) of disk")
        }
        var detail = "exited with code \(code.map(String.init) ?? "unknown")"
        let lines = (try? context.logs.tail(containerID: runtimeID, lines: 5)) ?? []
        if !lines.isEmpty {
            detail += "; last log lines: " + lines.map(\.text).joined(separator: " | ")
        }
        return (.exited, detail)
    }

    private func cgroupReportsOOM() -> Bool {
        let reader = CgroupReader()
        guard let stats = try? reader.stats(cgroupsPath: SpecAssembly.cgroupsPath(runtimeID)) else { return false }
        return stats.oomKillCount > 0
    }

    // MARK: - Pausing

    private func pause() async -> Bool {
        guard status.phase == .running else { return false }
        do {
            try await context.containerd.pauseTask(containerID: runtimeID)
            update { $0.phase = .paused }
            return true
        } catch {
            context.logger.warning("pause failed", metadata: ["container": "\(runtimeID)", "error": "\(error)"])
            return false
        }
    }

    private func resume() async -> Bool {
        guard status.phase == .paused else { return status.phase == .running }
        do {
            try await context.containerd.resumeTask(containerID: runtimeID)
            update { $0.phase = .running }
            return true
        } catch {
            context.logger.warning("resume failed", metadata: ["container": "\(runtimeID)", "error": "\(error)"])
            return false
        }
    }

    // MARK: - Stopping and recovering

    private func stop() async {
        do {
            try await launcher.resources.stopTask(grace: context.configuration.stopGracePeriod)
        } catch {
            context.logger.warning("stop failed", metadata: ["container": "\(runtimeID)", "error": "\(error)"])
        }
        taskPid = nil
        taskStartedAt = nil
        await launcher.resources.release()
        attachment = nil
        update {
            $0.phase = .stopped
            $0.reason = nil
            $0.message = nil
            $0.pid = nil
            $0.address = nil
        }
    }

    /// A task a previous berthd left running is adopted as it is: same process, same address.
    private func adoptRunningTask() async -> [FollowUp]? {
        guard let task = try? await context.containerd.task(containerID: runtimeID),
              task.status == .running || task.status == .paused,
              let recorded = try? context.network.attachment(containerID: runtimeID)
        else { return nil }
        taskPid = task.pid
        taskStartedAt = .now
        attachment = recorded
        // A frozen task cannot answer a probe; it stays paused until a request wakes it.
        let paused = task.status == .paused
        update {
            $0.phase = paused ? .paused : .starting
            $0.pid = task.pid
            $0.address = recorded.address
            $0.port = deployment.spec.port
        }
        return paused ? [] : [.probe(generation: generation, address: recorded.address, port: deployment.spec.port)]
    }

    /// After containerd restarted or events may have been lost: a task that ended unseen is
    /// handled as an exit.
    private func reconcile() async -> [FollowUp] {
        guard wantsRunning, let pid = taskPid else { return [] }
        guard let task = try? await context.containerd.task(containerID: runtimeID) else {
            return await exited(code: nil, forcedReason: nil)
        }
        if task.pid == pid, task.status == .running || task.status == .paused { return [] }
        return await exited(code: Int32(bitPattern: task.exitStatus), forcedReason: nil)
    }

    // MARK: - Status

    private func fail(_ reason: RuntimeStatus.Reason, _ message: String, retry: Bool) -> [FollowUp] {
        generation += 1
        var followUps: [FollowUp] = []
        var text = message
        if retry {
            let delay = backoff.delay(afterRunOf: .zero)
            followUps.append(.after(delay, .retry(generation: generation)))
            text += "; retrying in \(delay)"
        }
        update {
            $0.phase = .failed
            $0.reason = reason
            $0.message = text
            $0.pid = nil
        }
        return followUps
    }

    private func update(_ change: (inout RuntimeStatus) -> Void) {
        change(&status)
        publish(status)
    }
}

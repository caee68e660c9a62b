import ContainerdClient
import Foundation
import ImagePull
import OCI

/// The supervisor's long work, run as child tasks beside its queue (`spawn`), and the reading of
/// why a task ended.
extension TaskSupervisor {
    // MARK: - Operations (off the actor's queue)

    nonisolated func findTask() async -> RevisionLifecycle.FoundTask? {
        guard let task = try? await context.containerd.task(containerID: deployment.runtimeID),
              task.status == .running || task.status == .paused,
              let recorded = try? context.network.attachment(containerID: deployment.runtimeID)
        else { return nil }
        return .init(pid: task.pid, address: recorded.address, paused: task.status == .paused)
    }

    func pull(_ op: Int) async -> OperationResult {
        let reference: ImageReference
        do {
            reference = try ImageReference(parsing: deployment.spec.image)
        } catch {
            return .pullFailed(op, .permanent("\(error)"))
        }
        let (puller, resolved, limit) = (context.puller, resolvedImage, context.configuration.pullTimeout)
        do {
            let image = try await withDeadline(limit, timedOut: { RuntimeError.timeout("no answer within \(limit)") }) {
                try await puller.imageForStart(reference, resolved: resolved)
            }
            return .pulled(op, image)
        } catch {
            return .pullFailed(op, .retryable(PullError.statusText(error)))
        }
    }

    /// Unlike a pull, a launch that is cancelled (a delete) or runs past its deadline is waited
    /// for until it has noticed: it makes the task, the address and the mounts, and the removal
    /// that follows must find them all. Its containerd calls end at once when cancelled; a CNI
    /// plugin runs to its own timeout.
    func launch(_ op: Int) async -> OperationResult {
        guard let image = resolvedImage else { return .launched(op, pid: nil, attachment: nil, failure: "no image") }
        let (launcher, limit) = (launcher, context.configuration.startTimeout)
        let work = Task { try await launcher.launch(image: image) }
        let deadline = Task {
            try await Task.sleep(for: limit)
            work.cancel()
        }
        let started = ContinuousClock.now
        let result = await withTaskCancellationHandler { await work.result } onCancel: { work.cancel() }
        deadline.cancel()
        switch result {
        case .success(let launched):
            return .launched(op, pid: launched.pid, attachment: launched.attachment, failure: nil)
        case .failure(let error):
            let timedOut = ContinuousClock.now - started >= limit
            let failure = timedOut ? "not started within \(limit)" : "\(error)"
            context.logger.error("start failed", metadata: ["container": "\(runtimeID)", "error": "\(failure)"])
            return .launched(op, pid: nil, attachment: nil, failure: failure)
        }
    }

    /// Whether `work` succeeded; a failure is logged.
    nonisolated func attempt(_ what: String, _ work: @Sendable () async throws -> Void) async -> Bool {
        do {
            try await work()
            return true
        } catch {
            context.logger.warning("\(what) failed", metadata: ["container": "\(deployment.runtimeID)", "error": "\(error)"])
            return false
        }
    }

    // MARK: - Why a task ended

    func exitDescription(code: Int32?) -> RevisionLifecycle.Exit {
        if oomKilled || cgroupReportsOOM() {
            return .init(code: code, reason: .oomKilled,
                         detail: "OOM killed: the container used more than its memory limit (\(deployment.spec.memory))")
        }
        if context.storage(runtimeID).isFull() {
            return .init(code: code, reason: .ephemeralStorageExceeded,
                         detail: "ephemeral storage exceeded: the container filled its \(deployment.spec.ephemeralStorage) of disk")
        }
        var detail = "exited with code \(code.map(String.init) ?? "unknown")"
        let lines = (try? context.logs.tail(containerID: runtimeID, lines: 5)) ?? []
        if !lines.isEmpty {
            detail += "; last log lines: " + lines.map(\.text).joined(separator: " | ")
        }
        return .init(code: code, reason: .exited, detail: detail)
    }

    private func cgroupReportsOOM() -> Bool {
        let reader = CgroupReader()
        guard let stats = try? reader.stats(cgroupsPath: SpecAssembly.cgroupsPath(runtimeID)) else { return false }
        return stats.oomKillCount > 0
    }
}

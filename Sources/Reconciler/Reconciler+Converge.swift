import BerthModel
import Foundation
import Runtime
import Store

extension Reconciler {
    /// One pass over a container: delete it, start its first revision, or roll out a new one.
    /// Every step is idempotent, so a pass cut short (cancelled by a newer intent, failed, or
    /// killed with berthd) is finished by the next.
    func converge(_ containerID: String) async throws {
        guard let container = try database.container(id: containerID) else {
            try await removeAll(runtimeIDs(of: containerID), releasingGPUs: false)
            return
        }
        let revisions = try database.revisions(containerID: containerID)
        if container.phase == .deleting {
            try await delete(container, revisions)
            return
        }
        guard let serving = revisions.first(where: { $0.number == container.revision }) else { return }
        let latest = revisions.first(where: { $0.number == container.latestRevision })
        let rollingOut = latest.map { serving.phase == .active && $0.number > serving.number && $0.phase == .pending } ?? false
        // Revisions that neither serve nor are being rolled out (superseded by a newer PUT, or
        // left by a crash between a promotion and the old revision's removal) go first.
        let keep: Set<String> = [serving.number, rollingOut ? latest?.number : nil].compactMap { revision in
            revision.map { RevisionDeployment.runtimeID(containerID: containerID, revision: $0) }
        }.reduce(into: []) { $0.insert($1) }
        try await removeAll(runtimeIDs(of: containerID).filter { !keep.contains($0) }, releasingGPUs: true)
        try releaseGPUsOfRemovedRevisions(containerID, revisions, keep: keep)
        // A revision that took the serving one's GPUs (the node cannot hold both) replaces it:
        // the serving revision stops first, then the new one starts.
        let recreate = try rollingOut && database.needsRecreate(containerID: containerID, revision: latest!.number)
        if !recreate, try !isIdle(container, serving) {
            runtime.deploy(try deployment(container, serving))
        }
        if rollingOut, let latest {
            try await rollOut(container, from: serving, to: latest, recreate: recreate)
        }
    }

    /// Stopped for want of requests: the traffic controller recorded it, and no request has
    /// started it since. Such a revision stays stopped until a request comes.
    private func isIdle(_ container: StoredContainer, _ serving: StoredRevision) throws -> Bool {
        let phase = runtime.status(RevisionDeployment.runtimeID(containerID: container.id, revision: serving.number))?.phase
        guard phase == nil || phase == .stopped else { return false }
        return try database.isIdle(containerID: container.id, revision: serving.number)
    }

    /// Starts the new revision beside the serving one; once it accepts connections it serves
    /// and the old one is drained and removed. If it does not get there, the old one keeps
    /// serving and the new revision is marked failed with the reason.
    private func rollOut(_ container: StoredContainer, from serving: StoredRevision, to latest: StoredRevision,
                         recreate: Bool) async throws {
        let next = try deployment(container, latest)
        logger.info("rolling out", metadata: [
            "container": "\(container.id)", "from": "\(serving.number)", "to": "\(latest.number)",
            "strategy": "\(recreate ? "stop, then start" : "start, then drain")",
        ])
        if recreate {
            // Its GPUs were handed to the new revision when it was recorded.
            try await remove(RevisionDeployment.runtimeID(containerID: container.id, revision: serving.number), releasingGPUs: false)
            try database.setStatus(containerID: container.id, phase: .starting,
                                   message: "revision \(serving.number) stopped to free its GPUs for revision \(latest.number)")
        }
        runtime.deploy(next)
        let outcome: RuntimeStatus
        do {
            outcome = try await runtime.waitForStatus(next.runtimeID, timeout: rolloutTimeout) {
                $0.phase == .running || $0.phase == .failed
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            try Task.checkCancellation()
            outcome = RuntimeStatus(phase: .failed, reason: .notReady, message: "not ready within \(rolloutTimeout)")
        }
        try Task.checkCancellation()
        if outcome.phase == .running {
            if let digest = outcome.imageDigest {
                try database.setImageDigest(containerID: container.id, revision: latest.number, digest: digest)
            }
            try database.promote(containerID: container.id, revision: latest.number)
            try database.setStatus(containerID: container.id, phase: .running, message: nil)
            try await remove(RevisionDeployment.runtimeID(containerID: container.id, revision: serving.number), releasingGPUs: true)
        } else {
            let reason = outcome.message ?? "\(outcome.reason?.rawValue ?? "failed")"
            // Its GPUs go back to the serving revision (or the node) with the failure, below.
            try await remove(next.runtimeID, releasingGPUs: false)
            try database.failRevision(containerID: container.id, revision: latest.number, message: reason)
            // The failed revision's GPUs went back to the serving one: start it again.
            if recreate { runtime.deploy(try deployment(container, serving)) }
            let servingStatus = runtime.status(RevisionDeployment.runtimeID(containerID: container.id, revision: serving.number))
            try database.setStatus(containerID: container.id, phase: servingStatus.map(Self.phase) ?? .running,
                                   message: "revision \(latest.number) failed: \(reason); revision \(serving.number) keeps serving")
        }
    }

    /// Every revision goes at once; the record (with its GPUs and reservations) only when all
    /// tasks are gone, so nothing it holds is handed out while still in use.
    private func delete(_ container: StoredContainer, _ revisions: [StoredRevision]) async throws {
        var runtimeIDs = Set(revisions.map { RevisionDeployment.runtimeID(containerID: container.id, revision: $0.number) })
        runtimeIDs.formUnion(self.runtimeIDs(of: container.id))
        try await removeAll(runtimeIDs.sorted(), releasingGPUs: false)
        try database.deleteContainer(id: container.id)
    }

    /// Removes the revisions concurrently; the first failure is thrown once all have ended.
    private func removeAll(_ runtimeIDs: [String], releasingGPUs: Bool) async throws {
        guard !runtimeIDs.isEmpty else { return }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for runtimeID in runtimeIDs {
                group.addTask { try await self.remove(runtimeID, releasingGPUs: releasingGPUs) }
            }
            var failure: (any Error)?
            while let result = await group.nextResult() {
                if case .failure(let error) = result, failure == nil { failure = error }
            }
            if let failure { throw failure }
        }
    }

    private func remove(_ runtimeID: String, releasingGPUs: Bool) async throws {
        await hooks.beforeRetiring(runtimeID)
        try await runtime.delete(runtimeID)
        guard let (containerID, revision) = Self.parse(runtimeID) else { return }
        // Only now that its task is gone: a device still in use is never handed out again.
        if releasingGPUs { try database.releaseGPUs(containerID: containerID, revision: revision) }
        await hooks.afterRemoving(containerID, revision)
    }

    /// GPUs still recorded for revisions that neither serve nor roll out and that the runtime
    /// no longer runs (a berthd killed between a removal and the release).
    private func releaseGPUsOfRemovedRevisions(_ containerID: String, _ revisions: [StoredRevision],
                                               keep: Set<String>) throws {
        let held = Set(try database.gpuAllocations().filter { $0.containerID == containerID }.map(\.revision))
        for revision in held {
            let runtimeID = RevisionDeployment.runtimeID(containerID: containerID, revision: revision)
            guard !keep.contains(runtimeID), runtime.status(runtimeID) == nil,
                  let stored = revisions.first(where: { $0.number == revision }),
                  stored.phase == .retired || stored.phase == .failed
            else { continue }
            try database.releaseGPUs(containerID: containerID, revision: revision)
        }
    }

    /// The container's revisions the runtime knows.
    func runtimeIDs(of containerID: String) -> [String] {
        runtime.statuses.keys.filter { Self.parse($0)?.containerID == containerID }.sorted()
    }

    static func parse(_ runtimeID: String) -> (containerID: String, revision: Int)? {
        RevisionDeployment.parse(runtimeID)
    }

    static func phase(_ status: RuntimeStatus) -> ContainerPhase {
        switch status.phase {
        case .pending: return .pending
        case .pulling: return .pulling
        case .starting: return .starting
        case .running: return .running
        case .paused, .stopped: return .idle
        case .failed: return .failed
        case .deleted: return .deleting
        }
    }

    // MARK: - Status

    /// The runtime's message, or while the serving revision runs, why the latest one failed.
    private func message(for status: RuntimeStatus, of container: StoredContainer) throws -> String? {
        guard status.phase == .running, container.latestRevision > container.revision,
              let latest = try database.revision(containerID: container.id, number: container.latestRevision),
              latest.phase == .failed
        else { return status.message }
        return "revision \(latest.number) failed: \(latest.message ?? "unknown reason"); revision \(container.revision) keeps serving"
    }

    /// Carries runtime status into the store: the serving revision's phase and message become the
    /// container's, a first revision that runs becomes active, and pulled digests are recorded.
    func syncStatuses() async {
        for await (runtimeID, status) in runtime.statusChanges() {
            // A revision removed by the reconciler says nothing about the container: only a
            // DELETE marks it deleting.
            guard let (containerID, revision) = Self.parse(runtimeID), status.phase != .deleted else { continue }
            do {
                guard let container = try database.container(id: containerID), container.phase != .deleting else { continue }
                if let digest = status.imageDigest,
                   let stored = try database.revision(containerID: containerID, number: revision), stored.imageDigest == nil {
                    try database.setImageDigest(containerID: containerID, revision: revision, digest: digest)
                }
                guard revision == container.revision else { continue }
                if status.phase == .running,
                   let stored = try database.revision(containerID: containerID, number: revision), stored.phase == .pending {
                    try database.promote(containerID: containerID, revision: revision)
                }
                // As of the container read above: a rollout that promoted or recorded a revision
                // since then has written a newer status, which this late report must not undo.
                try database.setStatus(containerID: containerID, phase: Self.phase(status),
                                       message: try message(for: status, of: container),
                                       asOf: (container.revision, container.latestRevision))
            } catch {
                logger.warning("status not recorded", metadata: ["container": "\(containerID)", "error": "\(error)"])
            }
        }
    }
}

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
            scaleBook.withLock { $0.forget(containerID) }
            try await removeAll(runtimeIDs(of: containerID), releasingGPUs: false)
            return
        }
        let revisions = try database.revisions(containerID: containerID)
        if container.phase == .deleting {
            scaleBook.withLock { $0.forget(containerID) }
            try await delete(container, revisions)
            return
        }
        guard let serving = revisions.first(where: { $0.number == container.revision }) else { return }
        let latest = revisions.first(where: { $0.number == container.latestRevision })
        let rollingOut = latest.map { serving.phase == .active && $0.number > serving.number && $0.phase == .pending } ?? false
        let servingDeployment = try deployment(container, serving)
        // A revision that took the serving one's GPUs (the node cannot hold both) replaces it:
        // the serving revision stops first, then the new one starts.
        let recreate = try rollingOut && database.needsRecreate(containerID: containerID, revision: latest!.number)
        let idle = try isIdle(container, serving)
        let instances = idle || recreate ? [servingDeployment] : try plan(container, serving, servingDeployment)
        // Instances that are not wanted go first: revisions that neither serve nor are being
        // rolled out (superseded by a newer PUT, or left by a crash between a promotion and the
        // old revision's removal), and serving instances the autoscaler no longer asks for
        // (drained first, by the hook).
        var keep = Set(instances.map(\.runtimeID))
        if rollingOut, let latest {
            keep.formUnion(runtimeIDs(of: containerID).filter { Self.parse($0)?.revision == latest.number })
        }
        try await removeAll(runtimeIDs(of: containerID).filter { !keep.contains($0) }, releasingGPUs: true)
        try releaseGPUsOfRemovedRevisions(containerID, revisions, keep: keep)
        if !recreate, !idle {
            for instance in instances { runtime.deploy(instance) }
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

    /// Starts the new revision beside the serving one, as many instances as serve now (at least
    /// its `minInstances`, at least one, at most its `maxInstances`); once all accept
    /// connections it serves and the old instances are drained and removed. If any does not get
    /// there, the old ones keep serving and the new revision is marked failed with the reason.
    private func rollOut(_ container: StoredContainer, from serving: StoredRevision, to latest: StoredRevision,
                         recreate: Bool) async throws {
        let first = try deployment(container, latest)
        let servingNow = runtimeIDs(of: container.id).filter { id in
            Self.parse(id)?.revision == serving.number && runtime.status(id)?.phase == .running
        }.count
        let policy = latest.spec.scaling
        let count = recreate ? 1 : min(max(servingNow, policy.minInstances, 1), policy.maxInstances)
        // Instances above the first with GPUs get them now, as many as are free (those the old
        // revision holds come free once it is removed, and the autoscaler adds the rest then).
        var next = [first]
        for index in 1..<max(count, 1) {
            guard let devices = try instanceGPUs(container.id, latest, index) else { break }
            next.append(first.instance(index, gpuDevices: devices))
        }
        logger.info("rolling out", metadata: [
            "container": "\(container.id)", "from": "\(serving.number)", "to": "\(latest.number)", "instances": "\(count)",
            "strategy": "\(recreate ? "stop, then start" : "start, then drain")",
        ])
        let servingIDs = { self.runtimeIDs(of: container.id).filter { Self.parse($0)?.revision == serving.number } }
        if recreate {
            // Its GPUs were handed to the new revision when it was recorded.
            try await removeAll(servingIDs(), releasingGPUs: false)
            try database.setStatus(containerID: container.id, phase: .starting,
                                   message: "revision \(serving.number) stopped to free its GPUs for revision \(latest.number)")
        }
        for deployment in next { runtime.deploy(deployment) }
        var outcome = RuntimeStatus(phase: .running)
        for deployment in next where outcome.phase == .running {
            do {
                outcome = try await runtime.waitForStatus(deployment.runtimeID, timeout: rolloutTimeout) {
                    $0.phase == .running || $0.phase == .failed
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                try Task.checkCancellation()
                outcome = RuntimeStatus(phase: .failed, reason: .notReady, message: "not ready within \(rolloutTimeout)")
            }
        }
        try Task.checkCancellation()
        if outcome.phase == .running {
            if let digest = runtime.status(first.runtimeID)?.imageDigest {
                try database.setImageDigest(containerID: container.id, revision: latest.number, digest: digest)
            }
            try database.promote(containerID: container.id, revision: latest.number)
            try database.setStatus(containerID: container.id, phase: .running, message: nil)
            try await removeAll(servingIDs(), releasingGPUs: true)
        } else {
            let reason = outcome.message ?? "\(outcome.reason?.rawValue ?? "failed")"
            // Its GPUs go back to the serving revision (or the node) with the failure, below.
            try await removeAll(next.map(\.runtimeID), releasingGPUs: false)
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
        guard let (containerID, revision, instance) = RevisionDeployment.parseInstance(runtimeID) else { return }
        // Only now that its task is gone: a device still in use is never handed out again. The
        // revision's GPUs are its first instance's.
        if releasingGPUs || instance > 0 {
            // An instance above the first never hands its GPUs to another revision.
            try database.releaseGPUs(containerID: containerID, revision: revision, instance: instance)
        }
        await hooks.afterRemoving(containerID, revision)
    }

    /// GPUs still recorded for instances that are not kept and that the runtime no longer runs
    /// (a berthd killed between a removal and the release, or a pass cut short between an
    /// instance's allocation and its start): a retired or failed revision's, and any instance's
    /// above the first. A serving revision's own (its first instance's) stay.
    private func releaseGPUsOfRemovedRevisions(_ containerID: String, _ revisions: [StoredRevision],
                                               keep: Set<String>) throws {
        let held = Set(try database.gpuAllocations().filter { $0.containerID == containerID }
            .map { RevisionDeployment.runtimeID(containerID: containerID, revision: $0.revision, instance: $0.instance) })
        for runtimeID in held {
            guard !keep.contains(runtimeID), runtime.status(runtimeID) == nil,
                  let (_, revision, instance) = RevisionDeployment.parseInstance(runtimeID),
                  let stored = revisions.first(where: { $0.number == revision }),
                  stored.phase == .retired || stored.phase == .failed || instance > 0
            else { continue }
            try database.releaseGPUs(containerID: containerID, revision: revision, instance: instance)
        }
    }

    /// The container's revisions the runtime knows, from the status board's index by container:
    /// a scan of every status for each container made the periodic re-check quadratic (with a
    /// thousand containers it took most of a core, and the API's tail latency with it).
    func runtimeIDs(of containerID: String) -> [String] {
        runtime.statuses(ofContainer: containerID).keys.sorted()
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

    /// The runtime's message, or while the serving revision runs, why the latest one failed or
    /// why instances wait.
    private func message(for status: RuntimeStatus, of container: StoredContainer) throws -> String? {
        if status.phase == .running, container.latestRevision == container.revision,
           let shortfall = instanceShortfall(container.id) {
            return shortfall
        }
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
            guard let (containerID, revision, instance) = RevisionDeployment.parseInstance(runtimeID),
                  status.phase != .deleted else { continue }
            do {
                guard let container = try database.container(id: containerID), container.phase != .deleting else { continue }
                if let digest = status.imageDigest,
                   let stored = try database.revision(containerID: containerID, number: revision), stored.imageDigest == nil {
                    try database.setImageDigest(containerID: containerID, revision: revision, digest: digest)
                }
                // The first instance speaks for the container; the others are counted in its
                // `instances`.
                guard revision == container.revision, instance == 0 else { continue }
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

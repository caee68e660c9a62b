import CNI
import ContainerdClient
import Foundation
import ImagePull
import OCI

/// The containerd side of one revision: what it takes to go from a pulled image to a started
/// task, to stop the task, and to remove every trace of the revision.
struct RevisionLauncher: Sendable {
    let context: RuntimeContext
    let deployment: RevisionDeployment

    var runtimeID: String { deployment.runtimeID }
    var client: ContainerdClient { context.containerd }
    var resources: RevisionResources { RevisionResources(context: context, runtimeID: runtimeID) }

    /// Network, storage and the image's layers are set up concurrently (each takes a few to a
    /// few tens of milliseconds), then the container record and its task.
    func launch(image: PulledImage) async throws -> (pid: UInt32, attachment: NetworkAttachment) {
        // The view snapshot is kept by a lease until the container record references it, as
        // containerd's own client does: a garbage collection in between would take it.
        let lease = try await client.createLease(expiry: .seconds(600))
        let storage = context.storage(runtimeID)
        let attachment: NetworkAttachment
        let lowerDirectories: [String]
        do {
            async let attached = attach()
            async let lowers = imageLayers(chainID: image.chainID, using: client.leased(lease))
            try await storage.prepare(bytes: deployment.spec.ephemeralStorage.bytes)
            attachment = try await attached
            lowerDirectories = try await lowers
            try context.files(runtimeID).write(hostname: deployment.name, address: attachment.address)
            try await createContainerIfMissing(image: image, lowerDirectories: lowerDirectories, using: client.leased(lease))
        } catch {
            try? await client.deleteLease(lease)
            throw error
        }
        try await client.deleteLease(lease)
        if let stale = try await client.task(containerID: runtimeID) {
            if stale.status == .running || stale.status == .paused {
                return (stale.pid, attachment)
            }
            try await client.deleteTask(containerID: runtimeID)
        }
        let rootfs = RootFilesystem(viewKey: RuntimeContext.viewKey(runtimeID), storage: storage)
            .rootfsMount(lowerDirectories: lowerDirectories)
        let uri = context.logs.uri(containerID: runtimeID)
        let pid = try await client.createTask(containerID: runtimeID, rootfs: [rootfs], io: TaskIO(stdout: uri, stderr: uri))
        try await client.startTask(containerID: runtimeID)
        return (pid, attachment)
    }

    private func attach() async throws -> NetworkAttachment {
        if let existing = try context.network.attachment(containerID: runtimeID),
           FileManager.default.fileExists(atPath: existing.netnsPath) {
            return existing
        }
        return try await context.network.attach(containerID: runtimeID)
    }

    /// The image's layers through a view snapshot, which also pins them while the revision exists.
    private func imageLayers(chainID: Digest, using client: ContainerdClient) async throws -> [String] {
        let key = RuntimeContext.viewKey(runtimeID)
        let mounts: [Mount]
        if try await client.storedSnapshot(key) != nil {
            mounts = try await client.snapshotMounts(key)
        } else {
            mounts = try await client.viewSnapshot(key, parent: chainID.description)
        }
        return try RootFilesystem.lowerDirectories(of: mounts)
    }

    private func createContainerIfMissing(image: PulledImage, lowerDirectories: [String], using client: ContainerdClient) async throws {
        guard try await client.container(id: runtimeID) == nil else { return }
        let spec = try SpecAssembly(context: context, deployment: deployment, image: image,
                                    lowerDirectories: lowerDirectories, files: context.files(runtimeID)).specJSON()
        try await client.createContainer(ContainerRecord(
            id: runtimeID,
            labels: [
                RuntimeLabel.managed: "true",
                RuntimeLabel.container: deployment.containerID,
                RuntimeLabel.revision: String(deployment.revision),
                RuntimeLabel.name: deployment.name,
            ],
            image: image.name,
            spec: spec,
            snapshotter: context.configuration.snapshotter,
            snapshotKey: RuntimeContext.viewKey(runtimeID)
        ))
    }
}

/// What a revision holds on the host, by its runtime id alone: enough to stop it and to remove
/// it, including revisions found in containerd that no record asks for any more.
struct RevisionResources: Sendable {
    let context: RuntimeContext
    let runtimeID: String

    var client: ContainerdClient { context.containerd }

    /// SIGTERM, then SIGKILL to every process after the grace period; deletes the task.
    func stopTask(grace: Duration) async throws {
        guard let task = try await client.task(containerID: runtimeID) else { return }
        if task.status == .running || task.status == .paused || task.status == .pausing {
            if task.status != .running { try? await client.resumeTask(containerID: runtimeID) }
            try? await client.killTask(containerID: runtimeID, signal: SIGTERM)
            if try await !waitForStop(within: grace) {
                try? await client.killTask(containerID: runtimeID, signal: SIGKILL, all: true)
                _ = try await waitForStop(within: .seconds(10))
            }
        }
        do {
            try await client.deleteTask(containerID: runtimeID)
        } catch let error as ContainerdError where error.code == .notFound {}
    }

    private func waitForStop(within limit: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            guard let task = try await client.task(containerID: runtimeID), task.status != .stopped else { return true }
            try await Task.sleep(for: .milliseconds(25))
        }
        return false
    }

    /// Releases what a stopped revision holds but does not need while stopped: its address and
    /// the loop device of its storage. Its files and layers stay for the next start.
    func release() async {
        do { try await context.network.detach(containerID: runtimeID) } catch {
            context.logger.warning("network detach failed", metadata: ["container": "\(runtimeID)", "error": "\(error)"])
        }
        do { try await context.storage(runtimeID).unmount() } catch {
            context.logger.warning("unmount failed", metadata: ["container": "\(runtimeID)", "error": "\(error)"])
        }
    }

    /// Task, container record, view snapshot, network, storage, logs and files: everything.
    func removeAll(grace: Duration) async throws {
        try await stopTask(grace: grace)
        do { try await client.deleteContainer(id: runtimeID) } catch let error as ContainerdError where error.code == .notFound {}
        do { try await client.removeSnapshot(RuntimeContext.viewKey(runtimeID)) } catch let error as ContainerdError where error.code == .notFound {}
        try await context.network.detach(containerID: runtimeID)
        try await context.storage(runtimeID).remove()
        try? context.logs.remove(containerID: runtimeID)
        context.files(runtimeID).remove()
        try? FileManager.default.removeItem(atPath: context.directory(runtimeID))
    }
}

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

    /// Storage, the image's layers and the network namespace are set up concurrently (each
    /// takes a few to a few tens of milliseconds), then the container record. The network's
    /// interfaces are made while containerd creates the task (the longest step, tens of
    /// milliseconds): the task needs only the namespace, and its process starts after both.
    func launch(image: PulledImage) async throws -> (pid: UInt32, attachment: NetworkAttachment) {
        // The view snapshot is kept by a lease until the container record references it, as
        // containerd's own client does: a garbage collection in between would take it.
        let lease = try await client.createLease(expiry: .seconds(600), labels: context.configuration.ownership.labels)
        let storage = context.storage(runtimeID)
        let files = context.files(runtimeID)
        let place: NetworkPlace
        let lowerDirectories: [String]
        let existing: ContainerRecord?
        do {
            // A revision keeps the user namespace it was created with, whatever the
            // configuration says now: its spec and its view were made for it.
            existing = try await client.container(id: runtimeID)
            let userNamespace = existing.map { $0.labels[RuntimeLabel.userNamespace].flatMap(UserNamespaceMapping.init(label:)) }
                ?? context.configuration.userNamespace
            async let placed = placeInNetwork()
            async let lowers = imageLayers(image: image, userNamespace: userNamespace, using: client.leased(lease))
            try await storage.prepare(bytes: deployment.spec.ephemeralStorage.bytes)
            place = try await placed
            lowerDirectories = try await lowers
            try files.write(hostname: deployment.name, address: place.reused?.address)
            if let userNamespace {
                try storage.ownWritableLayer(uid: userNamespace.base, gid: userNamespace.base)
                try Self.give([files.hostsPath, files.hostnamePath, files.resolvConfPath], to: userNamespace)
            }
            try checkVolumesMounted()
            let secrets = try openSecrets()
            var assembly = SpecAssembly(context: context, deployment: deployment, image: image,
                                        lowerDirectories: lowerDirectories, files: files)
            assembly.userNamespace = userNamespace
            assembly.secretValues = secrets
            if !deployment.spec.secretMounts.isEmpty {
                let user = try assembly.processUser()
                let uid = (userNamespace?.base ?? 0) + user.uid
                let gid = (userNamespace?.base ?? 0) + user.gid
                try await context.secretFiles(runtimeID).write(deployment.spec.secretMounts.map { secrets[$0.secret] ?? [] },
                                                               uid: uid, gid: gid)
            }
            if existing == nil {
                try await createContainer(assembly, image: image, using: client.leased(lease))
            }
        } catch {
            try? await client.deleteLease(lease)
            throw error
        }
        try await client.deleteLease(lease)
        // A task created, or an attach cut short, by a launch that fails from here on is found
        // and cleaned by the next launch (the stale task below, the attach's own record).
        async let attached = attach(place)
        if let stale = try await client.task(containerID: runtimeID) {
            // A task left running keeps its namespace; one whose namespace is gone (a berthd
            // killed between detaching it and the task's end) cannot be reached at the new
            // address, so it goes and a new one starts there.
            if stale.status == .running || stale.status == .paused, place.reused != nil {
                return (stale.pid, try await attached)
            }
            if stale.status != .stopped {
                if stale.status != .running { try? await client.resumeTask(containerID: runtimeID) }
                try? await client.killTask(containerID: runtimeID, signal: SIGKILL, all: true)
                _ = try await resources.waitForStop(within: .seconds(10))
            }
            try await client.deleteTask(containerID: runtimeID)
        } else if existing != nil {
            try await resources.deleteEndedTask()
        }
        let rootfs = RootFilesystem(viewKey: RuntimeContext.viewKey(runtimeID), storage: storage)
            .rootfsMount(lowerDirectories: lowerDirectories)
        let uri = context.logs.uri(containerID: runtimeID)
        let pid: UInt32
        do {
            pid = try await client.createTask(containerID: runtimeID, rootfs: [rootfs], io: TaskIO(stdout: uri, stderr: uri))
        } catch {
            // An attach that failed first, and took the namespace with it, is the cause.
            _ = try await attached
            throw error
        }
        let attachment = try await attached
        if place.reused == nil { try files.writeHosts(hostname: deployment.name, address: attachment.address) }
        try await client.startTask(containerID: runtimeID)
        return (pid, attachment)
    }

    /// Where the revision is on the network before its task is created: a recorded attachment
    /// whose namespace is still there, or a new namespace whose interfaces ``attach(_:)`` makes.
    private enum NetworkPlace: Sendable {
        case reused(NetworkAttachment)
        case prepared(PreparedAttachment)

        var reused: NetworkAttachment? {
            if case .reused(let attachment) = self { return attachment }
            return nil
        }
    }

    private func placeInNetwork() async throws -> NetworkPlace {
        if let existing = try context.network.attachment(containerID: runtimeID),
           FileManager.default.fileExists(atPath: existing.netnsPath) {
            return .reused(existing)
        }
        return .prepared(try await context.network.prepareAttachment(containerID: runtimeID))
    }

    /// The interfaces of a new namespace, and low ports opened in either (idempotent).
    private func attach(_ place: NetworkPlace) async throws -> NetworkAttachment {
        let attachment = switch place {
        case .reused(let attachment): attachment
        case .prepared(let prepared): try await context.network.attach(prepared)
        }
        try await LowPorts.open(inNetworkNamespace: attachment.netnsPath)
        return attachment
    }

    /// The image's layers through a view snapshot, which also pins them while the revision exists.
    /// In a user namespace the view's parent is the image's remapped snapshot (`RemappedImage`),
    /// made on the first revision of the image that needs it.
    private func imageLayers(image: PulledImage, userNamespace: UserNamespaceMapping?,
                             using client: ContainerdClient) async throws -> [String] {
        let key = RuntimeContext.viewKey(runtimeID)
        let mounts: [Mount]
        if try await client.storedSnapshot(key) != nil {
            mounts = try await client.snapshotMounts(key)
        } else {
            var parent = image.chainID.description
            if let userNamespace {
                let remapped = RemappedImage(client: client, mapping: userNamespace,
                                             mountDirectory: context.configuration.dataDirectory + "/remap",
                                             ownerLabels: context.configuration.ownership.labels)
                parent = try await remapped.snapshot(for: image)
                _ = try await client.storedSnapshot(parent)
            }
            mounts = try await client.viewSnapshot(key, parent: parent, labels: [RuntimeLabel.managed: "true"]
                .merging(context.configuration.ownership.labels) { $1 })
        }
        return try RootFilesystem.lowerDirectories(of: mounts)
    }

    /// Berth's files bind-mounted into the container, owned by its root so that it can read
    /// them whatever their mode (they are mounted read-only).
    static func give(_ paths: [String], to mapping: UserNamespaceMapping) throws {
        for path in paths where chown(path, mapping.base, mapping.base) != 0 {
            throw RuntimeError.storage("cannot chown \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// A volume's mount point that is not mounted is a folder on the host's disk: binding it
    /// would let the container write there, unbounded. The start fails and is retried.
    private func checkVolumesMounted() throws {
        let volumes = context.configuration.volumes
        for volume in deployment.volumes where !volumes.filesystem(volume.id).isMounted {
            throw RuntimeError.storage("volume for \(volume.mountPath) is not mounted on the node yet")
        }
    }

    /// The deployment's secrets in the clear, by name; only for the spec and the secret files.
    private func openSecrets() throws -> [String: [UInt8]] {
        guard !deployment.secrets.isEmpty else { return [:] }
        guard let box = context.configuration.secretBox else {
            throw RuntimeError.storage("the revision uses secrets, but this node has no secret key loaded")
        }
        var values: [String: [UInt8]] = [:]
        for (name, secret) in deployment.secrets {
            do { values[name] = try box.open(secret.sealed, owner: secret.owner, name: secret.name) } catch {
                throw RuntimeError.storage(error.description)
            }
        }
        for name in deployment.spec.secretNames where values[name] == nil {
            throw RuntimeError.storage("secret \"\(name)\" is not on the node")
        }
        return values
    }

    private func createContainer(_ assembly: SpecAssembly, image: PulledImage, using client: ContainerdClient) async throws {
        let userNamespace = assembly.userNamespace
        let spec = try assembly.specJSON()
        var labels = [
            RuntimeLabel.managed: "true",
            RuntimeLabel.container: deployment.containerID,
            RuntimeLabel.revision: String(deployment.revision),
            RuntimeLabel.name: deployment.name,
        ]
        labels[RuntimeLabel.userNamespace] = userNamespace?.description
        labels.merge(context.configuration.ownership.labels) { $1 }
        try await client.createContainer(ContainerRecord(
            id: runtimeID,
            labels: labels,
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
        guard let task = try await client.task(containerID: runtimeID) else { return try await deleteEndedTask() }
        if task.status == .running || task.status == .paused || task.status == .pausing {
            if task.status != .running { try? await client.resumeTask(containerID: runtimeID) }
            try? await client.killTask(containerID: runtimeID, signal: SIGTERM)
            if try await !waitForStop(within: grace) {
                try? await client.killTask(containerID: runtimeID, signal: SIGKILL, all: true)
                _ = try await waitForStop(within: .seconds(10))
            }
        }
        try await deleteEndedTask()
    }

    /// A Tasks.Delete cut short (berthd killed, or the call cancelled, after the shim deleted
    /// the task but before containerd dropped the shim) leaves containerd 1.6 holding a shim
    /// whose task is gone: Tasks.Get and List say not found, Tasks.Create says already exists,
    /// and the shim process lives on. Deleting again finishes the job; with no shim at all it
    /// answers not found, which is the goal.
    func deleteEndedTask() async throws {
        do {
            try await client.deleteTask(containerID: runtimeID)
        } catch let error as ContainerdError where error.code == .notFound {}
    }

    /// True once the task has stopped (or is gone), false when `limit` passed first.
    func waitForStop(within limit: Duration) async throws -> Bool {
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
        // A stopped instance keeps no secret on the host; its next start writes them again.
        do { try await context.secretFiles(runtimeID).remove() } catch {
            context.logger.warning("unmounting secret files failed", metadata: ["container": "\(runtimeID)", "error": "\(error)"])
        }
    }

    /// Task, container record, view snapshot, network, storage, logs and files: everything.
    func removeAll(grace: Duration) async throws {
        try await stopTask(grace: grace)
        do { try await client.deleteContainer(id: runtimeID) } catch let error as ContainerdError where error.code == .notFound {}
        do { try await client.removeSnapshot(RuntimeContext.viewKey(runtimeID)) } catch let error as ContainerdError where error.code == .notFound {}
        try await context.network.detach(containerID: runtimeID)
        try await context.storage(runtimeID).remove()
        try await context.secretFiles(runtimeID).remove()
        try? context.logs.remove(containerID: runtimeID)
        context.files(runtimeID).remove()
        try? FileManager.default.removeItem(atPath: context.directory(runtimeID))
    }
}

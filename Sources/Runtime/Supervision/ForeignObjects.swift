import CNI
import ContainerdClient
import Foundation
import Logging

/// Berth objects in a containerd namespace that are not this node's (`NodeOwnership`): another
/// node's identity label, or no identity label on a node that does not adopt unlabelled ones.
///
/// What counts as Berth's: containers labelled `berth.managed`, snapshots labelled
/// `berth.managed` or named as Berth names them (`berth-view-…`, `berth-remap…`: views made before
/// they were labelled), and leases and images that carry a `berth.node` label. Unlabelled leases
/// and images are not counted: leases expire on their own, and an unlabelled image is one an
/// operator pre-pulled with `berthd image pull`, which any node may use.
public struct ForeignInventory: Sendable, Equatable {
    public var containers: [String] = []
    public var snapshots: [String] = []
    public var leases: [String] = []
    public var images: [String] = []
    /// The identities found; "" stands for objects without an identity label.
    public var identities: Set<String> = []

    public init() {}

    public var count: Int { containers.count + snapshots.count + leases.count + images.count }
    public var isEmpty: Bool { count == 0 }

    /// "2 containers, 3 snapshots, 1 lease" (kinds with none left out).
    public var summary: String {
        [(containers.count, "container"), (snapshots.count, "snapshot"), (leases.count, "lease"), (images.count, "image")]
            .filter { $0.0 > 0 }
            .map { "\($0.0) \($0.1)\($0.0 == 1 ? "" : "s")" }
            .joined(separator: ", ")
    }

    /// "node 1b2c…, unlabelled"
    public var identitySummary: String {
        identities.sorted().map { $0.isEmpty ? "unlabelled" : "node \($0)" }.joined(separator: ", ")
    }
}

/// Lists and removes the Berth objects of other nodes in this client's namespace.
public struct ForeignObjects: Sendable {
    let client: ContainerdClient
    let ownership: NodeOwnership

    public init(client: ContainerdClient, ownership: NodeOwnership) {
        self.client = client
        self.ownership = ownership
    }

    static func isBerthSnapshot(_ snapshot: SnapshotInfo) -> Bool {
        snapshot.labels[RuntimeLabel.managed] == "true" || snapshot.name.hasPrefix("berth-view-")
            || snapshot.name.hasPrefix("berth-remap")
    }

    public func list() async throws -> ForeignInventory {
        var inventory = ForeignInventory()
        func note(_ labels: [String: String]) { inventory.identities.insert(labels[RuntimeLabel.node] ?? "") }
        for container in try await client.listContainers(filters: [#"labels."\#(RuntimeLabel.managed)"==true"#])
        where !ownership.owns(container.labels) {
            inventory.containers.append(container.id)
            note(container.labels)
        }
        for snapshot in try await client.listSnapshots() where Self.isBerthSnapshot(snapshot) && !ownership.owns(snapshot.labels) {
            inventory.snapshots.append(snapshot.name)
            note(snapshot.labels)
        }
        for lease in try await client.listLeaseLabels() where lease.labels[RuntimeLabel.node] != nil && !ownership.owns(lease.labels) {
            inventory.leases.append(lease.id)
            note(lease.labels)
        }
        for image in try await client.listImages() where image.labels[RuntimeLabel.node] != nil && !ownership.owns(image.labels) {
            inventory.images.append(image.name)
            note(image.labels)
        }
        inventory.containers.sort()
        inventory.snapshots = Self.removalOrder(inventory.snapshots)
        inventory.leases.sort()
        inventory.images.sort()
        return inventory
    }

    /// Children before parents: views (and remap prepares) before the remapped snapshots they
    /// stand on, since containerd refuses to remove a snapshot that has children.
    static func removalOrder(_ names: [String]) -> [String] {
        func rank(_ name: String) -> Int {
            name.hasPrefix("berth-remap/") ? 1 : 0
        }
        return names.sorted { (rank($0), $0) < (rank($1), $1) }
    }

    /// Removes what `list()` found: each container's task (SIGKILL to all its processes) and
    /// record, its network namespace where `network` knows its path, then the snapshots, leases
    /// and images. Logs every object removed and returns them ("container ID", "snapshot KEY"…);
    /// an object that is already gone counts as removed. The first other failure is thrown
    /// after everything else was tried.
    @discardableResult
    public func purge(_ inventory: ForeignInventory, network: CNINetwork?, logger: Logger) async throws -> [String] {
        var removed: [String] = []
        var firstError: (any Error)?
        func attempt(_ what: String, _ body: () async throws -> Void) async {
            do {
                try await body()
            } catch let error as ContainerdError where error.code == .notFound {
            } catch {
                logger.error("could not remove a foreign object", metadata: ["object": "\(what)", "error": "\(error)"])
                firstError = firstError ?? error
                return
            }
            logger.notice("removed a foreign object", metadata: ["object": "\(what)", "namespace": "\(client.namespace)"])
            removed.append(what)
        }
        for id in inventory.containers {
            await attempt("container \(id)") {
                if let task = try await client.task(containerID: id) {
                    if task.status == .running || task.status == .paused || task.status == .pausing {
                        try? await client.resumeTask(containerID: id)
                        try? await client.killTask(containerID: id, signal: SIGKILL, all: true)
                        try await waitUntilStopped(id)
                    }
                    _ = try await client.deleteTask(containerID: id)
                }
                try await client.deleteContainer(id: id)
                try await network?.detach(containerID: id)
            }
        }
        let remapped = inventory.snapshots.filter { $0.hasPrefix("berth-remap/") }
        for key in inventory.snapshots where !remapped.contains(key) {
            await attempt("snapshot \(key)") { try await client.removeSnapshot(key) }
        }
        for id in inventory.leases {
            await attempt("lease \(id)") { try await client.deleteLease(id) }
        }
        for name in inventory.images {
            await attempt("image \(name)") { try await client.deleteImage(named: name) }
        }
        // Last: containerd may still count a just-removed view as a child for a moment; the
        // image's config label keeps a remapped snapshot, so once the image is gone the garbage
        // collector takes one that cannot be removed yet.
        for key in remapped {
            await attempt("snapshot \(key)") {
                for _ in 0..<20 {
                    do { return try await client.removeSnapshot(key) } catch let error as ContainerdError where error.code == .failedPrecondition {
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
                logger.notice("left to containerd's garbage collector", metadata: ["object": "snapshot \(key)"])
            }
        }
        if let firstError { throw firstError }
        return removed
    }

    private func waitUntilStopped(_ id: String) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            guard let task = try await client.task(containerID: id), task.status != .stopped else { return }
            try await Task.sleep(for: .milliseconds(25))
        }
    }
}

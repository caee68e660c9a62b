import ContainerdClient
import Foundation
import ImagePull
import OCI
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An image's layers as seen by containers in a user namespace: a committed snapshot on top of
/// the image's chain in which every file is owned by the mapped range, made once per image and
/// range and reused by every later revision of that image as the parent of its view. runc 1.1
/// has no idmapped mounts, so this is what containerd's client does for remapped snapshots
/// (`WithRemappedSnapshot`): prepare an active snapshot on the chain, mount it, shift every
/// owner by the range's base (`OwnershipShift`), unmount, commit.
///
/// Cost: overlayfs copies a file up to change its owner, so the remapped snapshot holds a copy
/// of every file of the image (its size again on disk, once per image), and making it reads and
/// writes all of it once. Idmapped mounts (runc ≥ 1.2 on kernel ≥ 5.19 for overlayfs) make it free.
///
/// Lifetime: the snapshot is named `berth-remap/<chain id>/<base>-<size>`; a label on the
/// image's config blob (`containerd.io/gc.ref.snapshot.<snapshotter>/berth-remap-<base>-<size>`)
/// makes containerd's garbage collector keep it exactly as long as the image, and the views of
/// revisions keep it as their parent. It is made under a lease of its own, so no collection
/// takes the half-made snapshot; an interrupted remap leaves an active prepare snapshot that the
/// next attempt removes and redoes.
public struct RemappedImage: Sendable {
    let client: ContainerdClient
    let mapping: UserNamespaceMapping
    /// Where the active snapshot is mounted while its files are shifted.
    let mountDirectory: String
    /// The node's identity label (`NodeOwnership.labels`), on the snapshots and the lease.
    var ownerLabels: [String: String] = [:]

    var rangeName: String { "\(mapping.base)-\(mapping.size)" }

    func snapshotName(_ chainID: Digest) -> String { "berth-remap/\(chainID)/\(rangeName)" }
    func prepareKey(_ chainID: Digest) -> String { "berth-remap-prepare/\(chainID)/\(rangeName)" }
    var configLabel: String { GCLabel.snapshotRef(client.snapshotter) + "/berth-remap-\(rangeName)" }

    /// The committed remapped snapshot of `image`, made now if it does not exist yet. Concurrent
    /// callers for the same image and range wait for one remap.
    /// How many remaps this process has made since it started.
    public static var remapsMade: Int { RemapFlights.shared.made.load(ordering: .relaxed) }

    func snapshot(for image: PulledImage) async throws -> String {
        let name = snapshotName(image.chainID)
        if let info = try await client.statSnapshot(name), info.kind == .committed {
            return name
        }
        return try await RemapFlights.shared.run("\(client.namespace)/\(client.snapshotter)/\(name)") {
            try await remap(image)
        }
    }

    private func remap(_ image: PulledImage) async throws -> String {
        let name = snapshotName(image.chainID)
        let key = prepareKey(image.chainID)
        return try await client.unleased().withLease(expiry: .seconds(6 * 3600), labels: ownerLabels) { leased in
            if let info = try await leased.storedSnapshot(name), info.kind == .committed {
                try await leased.updateContentLabels(image.configDescriptor.digest, [configLabel: name])
                return name
            }
            let target = mountDirectory + "/" + Self.folderName(name)
            try Self.unmountIfMounted(target)
            if try await leased.statSnapshot(key) != nil {
                try await leased.removeSnapshot(key)   // an interrupted remap: redo it
            }
            let labels = [
                RuntimeLabel.managed: "true",
                RuntimeLabel.remappedChain: image.chainID.description,
                RuntimeLabel.userNamespace: mapping.description,
            ].merging(ownerLabels) { $1 }
            let mounts = try await leased.prepareSnapshot(key, parent: image.chainID.description, labels: labels)
            do {
                try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
                try Self.mount(mounts, at: target)
                defer { try? Self.unmountIfMounted(target) }
                _ = try OwnershipShift(mapping: mapping).apply(to: target)
            } catch {
                try? FileManager.default.removeItem(atPath: target)
                try? await leased.removeSnapshot(key)
                throw RuntimeError.storage("remapping image \(image.name) to ids \(mapping): \(error)")
            }
            try Self.unmountIfMounted(target)
            try? FileManager.default.removeItem(atPath: target)
            RemapFlights.shared.made.add(1, ordering: .relaxed)
            do {
                try await leased.commitSnapshot(name: name, key: key, labels: labels)
            } catch let error as ContainerdError where error.code == .alreadyExists {
                try? await leased.removeSnapshot(key)   // another berthd finished first
            }
            // Before the lease goes: from now on the image keeps the snapshot.
            try await leased.updateContentLabels(image.configDescriptor.digest, [configLabel: name])
            return name
        }
    }

    /// A folder name for the mount point, the same for the same snapshot (so a crashed remap's
    /// mount is found and undone) and free of the snapshot name's slashes and colons.
    static func folderName(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" })
    }

    /// Mounts a snapshot's mounts (one overlay, or one bind for a chain of one layer).
    static func mount(_ mounts: [Mount], at target: String) throws {
        guard mounts.count == 1, let mount = mounts.first else {
            throw RuntimeError.storage("unexpected snapshot mounts: \(mounts)")
        }
        let result: Int32
        switch mount.type {
        case "overlay":
            let data = mount.options.joined(separator: ",")
            // mount(2) takes one page of options; containerd's own mounter shortens long
            // lowerdir lists with relative paths, which Berth does not (yet) do.
            guard data.utf8.count < 4000 else {
                throw RuntimeError.storage("overlay options too long (\(data.utf8.count) bytes): the image has too many layers")
            }
            result = Glibc.mount("overlay", target, "overlay", 0, data)
        case "bind", "rbind":
            let readOnly = mount.options.contains("ro")
            result = Glibc.mount(mount.source, target, nil, UInt(MS_BIND | MS_REC) | (readOnly ? UInt(MS_RDONLY) : 0), nil)
        default:
            throw RuntimeError.storage("unsupported snapshot mount type \(mount.type)")
        }
        guard result == 0 else {
            throw RuntimeError.storage("mounting \(mount.type) at \(target): \(String(cString: strerror(errno)))")
        }
    }

    static func unmountIfMounted(_ target: String) throws {
        guard EphemeralStorage.isMountPoint(target) else { return }
        if umount2(target, 0) == 0 { return }
        // Busy (a scan of the tree still closing its last descriptors, seen while containerd
        // restarted): nothing of Berth uses the scratch mount once the shift is done, so it is
        // detached now and freed by the kernel when the last reference goes.
        guard errno == EBUSY, umount2(target, Int32(MNT_DETACH)) == 0 else {
            throw RuntimeError.storage("unmounting \(target): \(String(cString: strerror(errno)))")
        }
    }
}

/// One remap at a time per snapshot: later callers wait for the one in flight and share its
/// result (a failure included; the next call after it tries again).
final class RemapFlights: Sendable {
    static let shared = RemapFlights()
    /// Remaps this process has made (each one a full walk of an image): for tests and metrics.
    let made = Atomic<Int>(0)
    private let flights = Mutex<[String: Task<String, Error>]>([:])

    func run(_ key: String, _ body: @escaping @Sendable () async throws -> String) async throws -> String {
        let task = flights.withLock { flights in
            if let running = flights[key] { return running }
            let task = Task { try await body() }
            flights[key] = task
            return task
        }
        defer { flights.withLock { flights in if flights[key] == task { flights[key] = nil } } }
        return try await task.value
    }
}

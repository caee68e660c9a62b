import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Volumes on the node: each a `SizedFilesystem` of exactly its size (with a journal: the data
/// outlives revisions) under `<data>/volumes/<id>/`, mounted nosuid,nodev on the host for as
/// long as the volume exists. Containers bind its mount point; the file API reads and writes
/// through `VolumeFiles`. Everything here is found by the volume's id, which the store chose.
public struct VolumeStorage: Sendable {
    /// `<data>/volumes`, 0700.
    public let directory: String
    /// The host ids of a container's root (the user namespace's base, or 0): the volume's root
    /// folder and the files the API writes belong to them, so that a container's root may write
    /// a volume it mounts read-write and no one else's files.
    public let ownerID: UInt32
    /// False only in tests without the privilege to mount: a plain folder stands in for the
    /// sized filesystem, and the rest (the file API, usage) works the same on it.
    public let sized: Bool

    public init(directory: String, ownerID: UInt32, sized: Bool = true) {
        self.directory = directory
        self.ownerID = ownerID
        self.sized = sized
    }

    func filesystem(_ id: String) -> SizedFilesystem {
        SizedFilesystem(imagePath: directory + "/" + id + "/volume.img", mountPoint: mountPoint(id))
    }

    /// What containers bind and the file API works in.
    public func mountPoint(_ id: String) -> String { directory + "/" + id + "/fs" }

    /// Makes the filesystem (once) and mounts it; idempotent, so recovery calls it for every
    /// volume the store has.
    public func prepare(id: String, bytes: Int64) async throws {
        try FileManager.default.createDirectory(atPath: directory + "/" + id, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        chmod(directory, 0o700)
        let filesystem = filesystem(id)
        if sized {
            if !filesystem.isMounted { try await filesystem.mount(bytes: bytes, journal: true) }
        } else {
            try FileManager.default.createDirectory(atPath: filesystem.mountPoint, withIntermediateDirectories: true)
        }
        // ext4's lost+found stays root's; the root folder is the containers' root's.
        guard chown(filesystem.mountPoint, ownerID, ownerID) == 0, chmod(filesystem.mountPoint, 0o755) == 0 else {
            throw RuntimeError.storage("cannot own \(filesystem.mountPoint): \(String(cString: strerror(errno)))")
        }
    }

    /// Unmounts and deletes the volume's files; nothing is left under its folder.
    public func remove(id: String) async throws {
        try await filesystem(id).unmount()
        try FileManager.default.removeItem(atPath: directory + "/" + id)
    }

    /// Bytes used and the filesystem's size; nil when it is not mounted (or, unsized, missing).
    public func usage(id: String) -> (used: Int64, size: Int64, available: Int64)? {
        if sized { return filesystem(id).usage() }
        guard FileManager.default.fileExists(atPath: mountPoint(id)) else { return nil }
        let used = (FileManager.default.enumerator(atPath: mountPoint(id))?.allObjects as? [String] ?? []).reduce(Int64(0)) {
            $0 + ((try? FileManager.default.attributesOfItem(atPath: mountPoint(id) + "/" + $1)[.size] as? NSNumber)?.int64Value ?? 0)
        }
        return (used, 0, Int64.max)
    }

    public func files(id: String) -> VolumeFiles {
        VolumeFiles(root: mountPoint(id), ownerID: ownerID)
    }

    /// At start: mounts every volume the store has and removes the folders of those it does not
    /// (a delete cut short). Only folders named like the store's ids are touched. Returns the
    /// failures, by volume id, for the caller to log; each is tried again at the next start.
    public func recover(volumes: [(id: String, bytes: Int64)]) async -> [String: String] {
        var failures: [String: String] = [:]
        let kept = Set(volumes.map(\.id))
        for volume in volumes {
            do { try await prepare(id: volume.id, bytes: volume.bytes) } catch { failures[volume.id] = "\(error)" }
        }
        let found = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for id in found where !kept.contains(id) && UUID(uuidString: id) != nil && id == id.lowercased() {
            do { try await remove(id: id) } catch { failures[id] = "\(error)" }
        }
        return failures
    }
}

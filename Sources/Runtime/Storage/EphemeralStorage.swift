import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A container's writable layer on a filesystem of its own: a sparse ext4 image of exactly the
/// revision's `ephemeralStorage`, loop-mounted under the container's folder. The overlay's upper
/// and work directories live on it, so a container that writes past its limit gets ENOSPC and
/// the host's disk never fills. A sparse image costs disk only for what is written.
struct EphemeralStorage: Sendable {
    let directory: String

    var imagePath: String { directory + "/ephemeral.img" }
    var filesystem: SizedFilesystem { SizedFilesystem(imagePath: imagePath, mountPoint: mountPoint) }
    var mountPoint: String { directory + "/ephemeral" }
    var upperDirectory: String { mountPoint + "/upper" }
    var workDirectory: String { mountPoint + "/work" }

    /// Creates (once) and mounts the filesystem. An existing image is kept: a restarted or
    /// woken container finds the files it wrote. The container's folders are 0700 and the
    /// image 0600: only root reads what a tenant wrote.
    func prepare(bytes: Int64) async throws {
        // Already mounted: by a berthd killed before it made the layer's folders, too, so they
        // are made either way.
        if !Self.isMountPoint(mountPoint) { try await mount(bytes: bytes) }
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: upperDirectory, withIntermediateDirectories: true)
        try fileManager.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
    }

    private func mount(bytes: Int64) async throws {
        // No journal: the data is disposable and the whole size is the container's.
        try await filesystem.mount(bytes: bytes, journal: false)
    }

    /// Gives the writable layer to a user namespace's root (host ids `uid`:`gid`): the overlay
    /// shows the upper directory's owner as the owner of /, and new files there are made by the
    /// container's root, which owns nothing else on the host.
    func ownWritableLayer(uid: UInt32, gid: UInt32) throws {
        for path in [upperDirectory, workDirectory] where chown(path, uid, gid) != 0 {
            throw RuntimeError.storage("cannot chown \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Bytes still free; nil when the filesystem is not mounted.
    func available() -> Int64? { filesystem.usage()?.available }

    /// Whether the container used up its storage: less than 1 MiB or 1% of it is left (a write
    /// that failed with ENOSPC leaves whatever was smaller than its block).
    func isFull() -> Bool {
        guard let usage = filesystem.usage() else { return false }
        return usage.available < max(1 << 20, usage.size / 100)
    }

    func unmount() async throws {
        try await filesystem.unmount()
    }

    /// Unmounts and deletes the image: the container's written files are gone.
    func remove() async throws {
        try await unmount()
        try? FileManager.default.removeItem(atPath: imagePath)
        try? FileManager.default.removeItem(atPath: mountPoint)
    }

    static func isMountPoint(_ path: String) -> Bool { SizedFilesystem.isMountPoint(path) }
}

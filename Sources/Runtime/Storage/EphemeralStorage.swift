import Foundation
import HostProcess
#if canImport(Glibc)
import Glibc
#endif

/// A container's writable layer on a filesystem of its own: a sparse ext4 image of exactly the
/// revision's `ephemeralStorage`, loop-mounted under the container's folder. The overlay's upper
/// and work directories live on it, so a container that writes past its limit gets ENOSPC and
/// the host's disk never fills. A sparse image costs disk only for what is written.
struct EphemeralStorage: Sendable {
    let directory: String
    /// Deadlines for the host tools: lazy init formats in milliseconds, so minutes mean a
    /// host in trouble, and a create or delete must fail rather than hang.
    static let formatTimeout: Duration = .seconds(300)
    static let mountTimeout: Duration = .seconds(60)

    var imagePath: String { directory + "/ephemeral.img" }
    var mountPoint: String { directory + "/ephemeral" }
    var upperDirectory: String { mountPoint + "/upper" }
    var workDirectory: String { mountPoint + "/work" }

    /// The host's mount options: what the container writes (a setuid binary, a device node made
    /// with CAP_MKNOD) is inert on the host side of the mount. Inside the container the overlay's
    /// own mount and the device cgroup decide.
    static let mountOptions = "loop,noatime,nosuid,nodev"

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
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: mountPoint, withIntermediateDirectories: true,
                                        attributes: [.posixPermissions: 0o700])
        if !fileManager.fileExists(atPath: imagePath) {
            let scratch = imagePath + ".new"
            try? fileManager.removeItem(atPath: scratch)
            guard fileManager.createFile(atPath: scratch, contents: nil, attributes: [.posixPermissions: 0o600]),
                  truncate(scratch, off_t(bytes)) == 0 else {
                throw RuntimeError.storage("cannot create \(scratch): \(String(cString: strerror(errno)))")
            }
            // No journal and no reserved blocks: the data is disposable and the whole size is
            // the container's. Lazy init keeps formatting a large sparse image to milliseconds.
            try await HostProcess.check("/sbin/mkfs.ext4", [
                "-q", "-F", "-m", "0", "-O", "^has_journal",
                "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard", scratch,
            ], timeout: Self.formatTimeout)
            try fileManager.moveItem(atPath: scratch, toPath: imagePath)
        }
        // An image made by an older berthd may still be world-readable.
        chmod(imagePath, 0o600)
        try await HostProcess.check("/bin/mount", ["-o", Self.mountOptions, imagePath, mountPoint], timeout: Self.mountTimeout)
        // The container's writes must land on the sized filesystem, never on the host's disk.
        guard Self.isMountPoint(mountPoint) else {
            throw RuntimeError.storage("mount reported success, but \(mountPoint) is not a mount point")
        }
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
    func available() -> Int64? {
        guard Self.isMountPoint(mountPoint) else { return nil }
        var stats = statvfs()
        guard statvfs(mountPoint, &stats) == 0 else { return nil }
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }

    /// Whether the container used up its storage: less than 1 MiB or 1% of it is left (a write
    /// that failed with ENOSPC leaves whatever was smaller than its block).
    func isFull() -> Bool {
        guard let available = available(), let size = size() else { return false }
        return available < max(1 << 20, size / 100)
    }

    private func size() -> Int64? {
        var stats = statvfs()
        guard statvfs(mountPoint, &stats) == 0 else { return nil }
        return Int64(stats.f_blocks) * Int64(stats.f_frsize)
    }

    func unmount() async throws {
        guard Self.isMountPoint(mountPoint) else { return }
        try await HostProcess.check("/bin/umount", [mountPoint], timeout: Self.mountTimeout)
    }

    /// Unmounts and deletes the image: the container's written files are gone.
    func remove() async throws {
        try await unmount()
        try? FileManager.default.removeItem(atPath: imagePath)
        try? FileManager.default.removeItem(atPath: mountPoint)
    }

    /// A directory on another device than its parent is a mount point.
    static func isMountPoint(_ path: String) -> Bool {
        var directory = stat()
        var parent = stat()
        guard stat(path, &directory) == 0, stat(path + "/..", &parent) == 0 else { return false }
        return directory.st_dev != parent.st_dev
    }
}

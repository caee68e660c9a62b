import Foundation
import HostProcess
#if canImport(Glibc)
import Glibc
#endif

/// An ext4 filesystem of exactly a size, in a sparse image file, loop-mounted: what is written
/// there fails with ENOSPC at the size and never fills the host's disk. A sparse image costs
/// disk only for what is written. Containers' writable layers and volumes are made of these.
struct SizedFilesystem: Sendable {
    let imagePath: String
    let mountPoint: String

    /// Deadlines for the host tools: lazy init formats in milliseconds, so minutes mean a
    /// host in trouble, and a create or delete must fail rather than hang.
    static let formatTimeout: Duration = .seconds(300)
    static let mountTimeout: Duration = .seconds(60)

    /// The host's mount options: what a container writes (a setuid binary, a device node made
    /// with CAP_MKNOD) is inert on the host side of the mount.
    static let mountOptions = "loop,noatime,nosuid,nodev"

    /// Creates the image (once: an existing one keeps its files) and mounts it, 0700 and 0600:
    /// only root reads what a tenant wrote. Without `journal` a crash may lose recent writes,
    /// which disposable data can afford.
    func mount(bytes: Int64, journal: Bool) async throws {
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
            // No reserved blocks: the whole size is the user's. Lazy init keeps formatting a
            // large sparse image to milliseconds.
            try await HostProcess.check("/sbin/mkfs.ext4", [
                "-q", "-F", "-m", "0", "-O", journal ? "has_journal" : "^has_journal",
                "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard", scratch,
            ], timeout: Self.formatTimeout)
            try fileManager.moveItem(atPath: scratch, toPath: imagePath)
        }
        // An image made by an older berthd may still be world-readable.
        chmod(imagePath, 0o600)
        try await HostProcess.check("/bin/mount", ["-o", Self.mountOptions, imagePath, mountPoint], timeout: Self.mountTimeout)
        // The writes must land on the sized filesystem, never on the host's disk.
        guard Self.isMountPoint(mountPoint) else {
            throw RuntimeError.storage("mount reported success, but \(mountPoint) is not a mount point")
        }
    }

    var isMounted: Bool { Self.isMountPoint(mountPoint) }

    /// Bytes in use and the filesystem's size (statvfs); nil when it is not mounted.
    func usage() -> (used: Int64, size: Int64, available: Int64)? {
        guard isMounted else { return nil }
        var stats = statvfs()
        guard statvfs(mountPoint, &stats) == 0 else { return nil }
        let block = Int64(stats.f_frsize)
        return (Int64(stats.f_blocks - stats.f_bfree) * block, Int64(stats.f_blocks) * block, Int64(stats.f_bavail) * block)
    }

    func unmount() async throws {
        guard isMounted else { return }
        try await HostProcess.check("/bin/umount", [mountPoint], timeout: Self.mountTimeout)
    }

    /// A directory on another device than its parent is a mount point.
    static func isMountPoint(_ path: String) -> Bool {
        var directory = stat()
        var parent = stat()
        guard stat(path, &directory) == 0, stat(path + "/..", &parent) == 0 else { return false }
        return directory.st_dev != parent.st_dev
    }
}

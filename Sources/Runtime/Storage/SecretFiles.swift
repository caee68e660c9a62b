import Foundation
import HostProcess
#if canImport(Glibc)
import Glibc
#endif

/// An instance's secret files: a tmpfs of its own under the instance's folder (so values never
/// touch a disk), one file per secret mount, mode 0400 and owned by the container's user, each
/// bound read-only at its path. Unmounted when the instance stops or goes.
struct SecretFiles: Sendable {
    let directory: String

    /// The file bound at the spec's `index`th secret mount.
    func path(_ index: Int) -> String { directory + "/\(index)" }

    /// Mounts a fresh tmpfs (an older one is dropped first: a value may have changed) and
    /// writes `values`, in the spec's order, owned by host ids `uid`:`gid`.
    func write(_ values: [[UInt8]], uid: UInt32, gid: UInt32) async throws {
        try await remove()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        // Room for the values and a page of slack each; tmpfs takes memory only as written.
        let bytes = values.reduce(0) { $0 + $1.count + 4096 } + 4096
        try await HostProcess.check("/bin/mount", [
            "-t", "tmpfs", "-o", "size=\(bytes),mode=0700,nosuid,nodev,noexec", "berth-secrets", directory,
        ], timeout: SizedFilesystem.mountTimeout)
        for (index, value) in values.enumerated() {
            let fd = open(path(index), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o400)
            guard fd >= 0 else { throw RuntimeError.storage("cannot create a secret file: \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            let written = value.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard written == value.count, fchown(fd, uid, gid) == 0 else {
                throw RuntimeError.storage("cannot write a secret file: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Unmounts the tmpfs (the values are gone with it) and removes the folder.
    func remove() async throws {
        if SizedFilesystem.isMountPoint(directory) {
            try await HostProcess.check("/bin/umount", [directory], timeout: SizedFilesystem.mountTimeout)
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Moves every file of a tree from the container's ids to the host range they map to (uid and
/// gid N become base + N), in place, as containerd's client does for remapped snapshots
/// (`WithRemappedSnapshot`): what runc ≥ 1.2 does for free with an idmapped mount.
///
/// The tree is an image's (a tenant's) files, so nothing is followed: every directory is opened
/// relative to its parent with O_NOFOLLOW, every change made relative to that descriptor and
/// without following links (`fchownat(AT_SYMLINK_NOFOLLOW)`), so a symlink to /etc cannot move
/// a host file. Kept across the change, because chown(2) drops them: setuid/setgid bits
/// (restored with chmod) and file capabilities (`security.capability`, written back as they
/// were: a v2 capability set applies in every user namespace). Not translated: ids inside POSIX
/// ACLs (named ACL entries keep host ids).
struct OwnershipShift {
    let mapping: UserNamespaceMapping

    struct Counts: Equatable {
        var entries = 0
        var restoredModes = 0
        var restoredCapabilities = 0
    }

    struct Failure: Error, CustomStringConvertible {
        var path: String
        var problem: String
        var description: String { "remapping \(path): \(problem)" }
    }

    /// Shifts `root` itself and everything under it. `root` must be a directory.
    func apply(to root: String) throws -> Counts {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(path: root, problem: Self.lastError()) }
        var counts = Counts()
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw Failure(path: root, problem: Self.lastError())
        }
        let (uid, gid) = try hostIDs(info, path: root)
        guard fchown(fd, uid, gid) == 0 else {
            close(fd)
            throw Failure(path: root, problem: Self.lastError())
        }
        counts.entries += 1
        try walk(fd, path: root, counts: &counts)
        return counts
    }

    /// Takes ownership of `directory` (closes it).
    private func walk(_ directory: Int32, path: String, counts: inout Counts) throws {
        guard let stream = fdopendir(directory) else {
            close(directory)
            throw Failure(path: path, problem: Self.lastError())
        }
        defer { closedir(stream) }
        let fd = dirfd(stream)
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw Failure(path: path, problem: Self.lastError()) }
                return
            }
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name == "." || name == ".." { continue }
            let entryPath = path + "/" + name
            var info = stat()
            guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw Failure(path: entryPath, problem: Self.lastError())
            }
            try shift(name, in: fd, info: info, path: entryPath, counts: &counts)
            if info.st_mode & S_IFMT == S_IFDIR {
                let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard child >= 0 else { throw Failure(path: entryPath, problem: Self.lastError()) }
                try walk(child, path: entryPath, counts: &counts)
            }
        }
    }

    private func shift(_ name: String, in directory: Int32, info: stat, path: String, counts: inout Counts) throws {
        let (uid, gid) = try hostIDs(info, path: path)
        let type = info.st_mode & S_IFMT
        let capability = type == S_IFREG ? Self.capability(name, in: directory) : nil
        guard fchownat(directory, name, uid, gid, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw Failure(path: path, problem: Self.lastError())
        }
        counts.entries += 1
        // chown clears setuid and setgid on files (not on directories, where setgid stays).
        if type != S_IFLNK, type != S_IFDIR, info.st_mode & (S_ISUID | S_ISGID) != 0 {
            guard fchmodat(directory, name, info.st_mode & 0o7777, 0) == 0 else {
                throw Failure(path: path, problem: Self.lastError())
            }
            counts.restoredModes += 1
        }
        if let capability {
            let result = capability.withUnsafeBytes { bytes in
                shiftSetxattr(Self.procPath(directory, name), "security.capability", bytes.baseAddress, bytes.count, 0)
            }
            guard result == 0 else { throw Failure(path: path, problem: "restoring file capabilities: " + Self.lastError()) }
            counts.restoredCapabilities += 1
        }
    }

    private func hostIDs(_ info: stat, path: String) throws -> (uid_t, gid_t) {
        guard let uid = mapping.hostID(info.st_uid), let gid = mapping.hostID(info.st_gid) else {
            throw Failure(path: path, problem: "owned by \(info.st_uid):\(info.st_gid), outside the container's ids 0…\(mapping.size - 1)")
        }
        return (uid, gid)
    }

    /// The file's `security.capability`, if it has one (regular files only; reading through
    /// /proc/self/fd keeps the lookup relative to the already-opened directory).
    private static func capability(_ name: String, in directory: Int32) -> [UInt8]? {
        let path = procPath(directory, name)
        var buffer = [UInt8](repeating: 0, count: 64)
        let size = buffer.withUnsafeMutableBytes { shiftGetxattr(path, "security.capability", $0.baseAddress, $0.count) }
        guard size > 0 else { return nil }
        return Array(buffer.prefix(size))
    }

    private static func procPath(_ directory: Int32, _ name: String) -> String {
        "/proc/self/fd/\(directory)/\(name)"
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }
}

// <sys/xattr.h> is not part of Swift's Glibc module: the two calls, declared by hand.
@_silgen_name("getxattr")
private func shiftGetxattr(_ path: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>,
                           _ value: UnsafeMutableRawPointer?, _ size: Int) -> Int
@_silgen_name("setxattr")
private func shiftSetxattr(_ path: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>,
                           _ value: UnsafeRawPointer?, _ size: Int, _ flags: Int32) -> Int32

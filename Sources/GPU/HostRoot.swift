import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The host's files seen under a root folder: "/" on a real host, a fake tree in tests. Host
/// paths ("/dev/nvidia0") are what a container sees; `path(_:)` is where they are read here.
/// Symbolic links are followed inside the root, so an absolute link target in a fake tree stays
/// in the tree.
struct HostRoot: Sendable, Hashable {
    /// Without a trailing slash; "" for "/".
    let prefix: String

    init(_ root: String) {
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        prefix = root == "/" ? "" : root
    }

    /// Where the host path `hostPath` (absolute) is on this machine.
    func path(_ hostPath: String) -> String {
        prefix + (hostPath.hasPrefix("/") ? hostPath : "/" + hostPath)
    }

    /// The host path with every symbolic link resolved, or nil when some part does not exist or
    /// links loop.
    func canonical(_ hostPath: String) -> String? {
        var resolved: [Substring] = []
        var pending = Array(hostPath.split(separator: "/").reversed())
        var hops = 0
        while let part = pending.popLast() {
            if part == "." { continue }
            if part == ".." {
                _ = resolved.popLast()
                continue
            }
            let candidate = "/" + (resolved + [part]).joined(separator: "/")
            guard let info = linkStatus(candidate) else { return nil }
            if info.st_mode & S_IFMT == S_IFLNK {
                hops += 1
                guard hops <= 40, let target = readLink(candidate) else { return nil }
                if target.hasPrefix("/") { resolved = [] }
                pending += target.split(separator: "/").reversed()
            } else {
                resolved.append(part)
            }
        }
        return "/" + resolved.joined(separator: "/")
    }

    func linkStatus(_ hostPath: String) -> FileStatus? {
        var info = FileStatus()
        return lstat(path(hostPath), &info) == 0 ? info : nil
    }

    /// The file's own status with links followed inside the root.
    func status(_ hostPath: String) -> FileStatus? {
        canonical(hostPath).flatMap { linkStatus($0) }
    }

    func readLink(_ hostPath: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: path(hostPath))
    }

    func isSymbolicLink(_ hostPath: String) -> Bool {
        linkStatus(hostPath).map { $0.st_mode & S_IFMT == S_IFLNK } ?? false
    }

    func isRegularFile(_ hostPath: String) -> Bool {
        status(hostPath).map { $0.st_mode & S_IFMT == S_IFREG } ?? false
    }

    func isExecutable(_ hostPath: String) -> Bool {
        isRegularFile(hostPath) && access(path(hostPath), X_OK) == 0
    }

    /// Names in a folder, sorted; empty when it is missing.
    func contents(of hostDirectory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path(hostDirectory))) ?? []).sorted()
    }

    func read(_ hostPath: String) -> String? {
        try? String(contentsOfFile: path(hostPath), encoding: .utf8)
    }

    func data(_ hostPath: String) -> Data? {
        FileManager.default.contents(atPath: path(hostPath))
    }

    /// The folder part of `hostPath` with links resolved, then its last name: where the entry
    /// itself (a link, say) really sits.
    func canonicalEntry(_ hostPath: String) -> String? {
        let url = URL(fileURLWithPath: hostPath)
        let name = url.lastPathComponent
        guard let directory = canonical(url.deletingLastPathComponent().path) else { return nil }
        return (directory == "/" ? "" : directory) + "/" + name
    }
}

typealias FileStatus = stat

extension FileStatus {
    /// Linux's encoding of dev_t (glibc's gnu_dev_major/minor).
    var deviceMajor: Int64 { Int64(((UInt64(st_rdev) & 0xfff00) >> 8) | ((UInt64(st_rdev) & 0xffff_f000_0000_0000) >> 32)) }
    var deviceMinor: Int64 { Int64((UInt64(st_rdev) & 0xff) | ((UInt64(st_rdev) & 0x0000_0fff_fff0_0000) >> 12)) }
    var isCharacterDevice: Bool { st_mode & S_IFMT == S_IFCHR }
    var isBlockDevice: Bool { st_mode & S_IFMT == S_IFBLK }
    var permissionBits: UInt32 { UInt32(st_mode & 0o7777) }
}

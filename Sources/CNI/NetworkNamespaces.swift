import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Named network namespaces as `ip netns add` makes them: an empty file under the directory
/// with a new namespace bind-mounted onto it, so it outlives every process in it.
///
/// Made with system calls rather than by running `ip`: creating one costs a fraction of a
/// millisecond instead of a process start. Each namespace operation runs on a thread of its own
/// that ends afterwards, because unshare and setns change the namespace of the calling thread
/// only, and no other work may ever run on such a thread.
final class NetworkNamespaces: Sendable {
    let directory: String
    private let prepared = Mutex(false)

    init(directory: String) {
        self.directory = directory
    }

    func path(_ name: String) -> String { directory + "/" + name }

    func names() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    }

    /// True when `path` is a bind-mounted namespace (a plain file left by a crash is not).
    static func isNamespace(_ path: String) -> Bool {
        var file = stat()
        var namespaceFile = stat()
        guard stat(path, &file) == 0, stat("/proc/self/ns/net", &namespaceFile) == 0 else { return false }
        return file.st_dev == namespaceFile.st_dev
    }

    func create(_ path: String) async throws {
        try prepareDirectory()
        try await Self.onOwnThread {
            let fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0)
            if fd >= 0 {
                close(fd)
            } else if errno != EEXIST {
                throw CNINetworkError.namespace(operation: "create", path: path, errno: errno)
            }
            guard LinuxCalls.unshare(LinuxCalls.cloneNewNet) == 0 else {
                let code = errno
                unlink(path)
                throw CNINetworkError.namespace(operation: "unshare", path: path, errno: code)
            }
            guard mount("/proc/thread-self/ns/net", path, "none", UInt(MS_BIND), nil) == 0 else {
                let code = errno
                unlink(path)
                throw CNINetworkError.namespace(operation: "bind mount", path: path, errno: code)
            }
        }
    }

    /// Unmounts and removes; a namespace already gone is not an error.
    func delete(_ path: String) throws {
        if umount2(path, Int32(MNT_DETACH)) != 0, errno != EINVAL, errno != ENOENT {
            throw CNINetworkError.namespace(operation: "unmount", path: path, errno: errno)
        }
        if unlink(path) != 0, errno != ENOENT {
            throw CNINetworkError.namespace(operation: "remove", path: path, errno: errno)
        }
    }

    /// The primary IPv4 address of `interface` inside the namespace, nil when the interface or
    /// its address is missing.
    func ipv4Address(of interface: String, in path: String) async -> String? {
        try? await Self.onOwnThread { () -> String? in
            let namespace = open(path, O_RDONLY | O_CLOEXEC)
            guard namespace >= 0 else { return nil }
            defer { close(namespace) }
            guard LinuxCalls.setns(namespace, LinuxCalls.cloneNewNet) == 0 else { return nil }
            let sock = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard sock >= 0 else { return nil }
            defer { close(sock) }
            var request = ifreq()
            withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { name in
                name.copyBytes(from: interface.utf8.prefix(name.count - 1))
            }
            guard ioctl(sock, UInt(SIOCGIFADDR), &request) == 0 else { return nil }
            let address = withUnsafeBytes(of: &request.ifr_ifru) { $0.loadUnaligned(as: sockaddr_in.self) }
            return IPv4Network.format(UInt32(bigEndian: address.sin_addr.s_addr))
        }
    }

    /// Makes the directory a shared mount point, as iproute2 does, so that unmounting a
    /// namespace here also unmounts its copies in mount namespaces made since (a container's),
    /// letting the kernel free the namespace.
    private func prepareDirectory() throws {
        try prepared.withLock { done in
            if done { return }
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw CNINetworkError.namespace(operation: "create directory", path: directory, errno: errno)
            }
            var madeMountPoint = false
            while mount("", directory, "none", UInt(MS_SHARED | MS_REC), nil) != 0 {
                guard errno == EINVAL, !madeMountPoint else {
                    throw CNINetworkError.namespace(operation: "make shared", path: directory, errno: errno)
                }
                guard mount(directory, directory, "none", UInt(MS_BIND | MS_REC), nil) == 0 else {
                    throw CNINetworkError.namespace(operation: "bind mount", path: directory, errno: errno)
                }
                madeMountPoint = true
            }
            done = true
        }
    }

    static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}

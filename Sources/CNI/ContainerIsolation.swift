import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What is done to each container's attachment right after its ADD, before anything runs in it.
enum ContainerIsolation {
    /// Marks the host end of the container's veth an isolated bridge port (kernel ≥ 4.18, the
    /// sysfs form of `bridge link set dev VETH isolated on`): isolated ports exchange no frames
    /// with one another, only with the bridge itself (the host) and non-isolated ports, so two
    /// containers cannot talk at layer 2 whatever iptables does. Failing is an error: without it,
    /// bridged traffic between containers would depend on br_netfilter being loaded.
    static func isolatePort(_ hostInterface: String) throws(CNINetworkError) {
        guard !hostInterface.isEmpty, !hostInterface.contains("/"), hostInterface != "..", hostInterface != "." else {
            throw .isolation(interface: hostInterface, reason: "not an interface name")
        }
        try write("1", to: "/sys/class/net/\(hostInterface)/brport/isolated", interface: hostInterface)
    }

    /// True when the host end of the veth is an isolated port.
    static func isIsolated(_ hostInterface: String) -> Bool {
        (try? String(contentsOfFile: "/sys/class/net/\(hostInterface)/brport/isolated", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) == "1"
    }

    /// Sysctls of the container's namespace, as Docker sets them:
    ///
    /// - `ping_group_range` open to every group, so ping works through ICMP datagram sockets
    ///   although containers have no CAP_NET_RAW (Docker does this since 20.10);
    /// - unless `keepIPv6`, IPv6 off on the container's interface and on any interface made later,
    ///   as Docker does for endpoints of networks without IPv6: the kernel would otherwise give
    ///   eth0 a link-local address (fe80::/10 reaches the host and every neighbour on the
    ///   bridge). Loopback keeps ::1, as under Docker, so programs that bind or resolve
    ///   "localhost" to ::1 keep working. A kernel without IPv6 has nothing to turn off.
    static func configureNamespace(_ path: String, interface: String, keepIPv6: Bool) async throws {
        let ipv6 = !keepIPv6 && FileManager.default.fileExists(atPath: "/proc/sys/net/ipv6")
        try await NetworkNamespaces.onOwnThread {
            let namespace = open(path, O_RDONLY | O_CLOEXEC)
            guard namespace >= 0 else { throw CNINetworkError.namespace(operation: "open", path: path, errno: errno) }
            defer { close(namespace) }
            // /proc/sys/net shows the network namespace of the thread that opens it.
            guard LinuxCalls.setns(namespace, LinuxCalls.cloneNewNet) == 0 else {
                throw CNINetworkError.namespace(operation: "setns", path: path, errno: errno)
            }
            try write("0 2147483647", to: "/proc/sys/net/ipv4/ping_group_range", interface: interface)
            guard ipv6 else { return }
            for name in ["default", interface] {
                try write("1", to: "/proc/sys/net/ipv6/conf/\(name)/disable_ipv6", interface: interface)
            }
        }
    }

    private static func write(_ value: String, to path: String, interface: String) throws(CNINetworkError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .isolation(interface: interface, reason: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = value.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard written == value.utf8.count else {
            throw .isolation(interface: interface, reason: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

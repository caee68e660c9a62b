import HostProcess

/// Lets a container's processes bind ports below 1024 without CAP_NET_BIND_SERVICE, as Docker
/// does for every container that has its own network namespace (since 20.10 it puts
/// `net.ipv4.ip_unprivileged_port_start=0` in each spec).
///
/// Berth sets it from the host instead of through the spec's `linux.sysctl`: the network
/// namespace is made by CNI in the host's user namespace, so under `runtime.user_namespaces`
/// container root has no capability over it: runc, writing the sysctl from inside the
/// container's user namespace, would be refused, and so would `httpd`'s bind to port 80.
/// The setting only concerns this one namespace; the host's own ports are untouched.
enum LowPorts {
    static let sysctl = "net.ipv4.ip_unprivileged_port_start=0"

    /// Idempotent: a revision restarted in a kept namespace sets it again.
    static func open(inNetworkNamespace path: String) async throws {
        // A failure carries nsenter's or sysctl's own message (HostProcess.Failure).
        try await HostProcess.check("/usr/bin/nsenter", ["--net=\(path)", "--", "/usr/sbin/sysctl", "-q", "-w", sysctl],
                                    timeout: .seconds(30))
    }
}

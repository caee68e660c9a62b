import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The files Berth writes for a revision and bind-mounts into it: /etc/hosts, /etc/hostname and
/// /etc/resolv.conf.
struct ContainerFiles: Sendable {
    let directory: String

    var hostsPath: String { directory + "/hosts" }
    var hostnamePath: String { directory + "/hostname" }
    var resolvConfPath: String { directory + "/resolv.conf" }

    /// All three files, before the task is created: its bind mounts need them. Without an
    /// address yet (the network is attached while the task is created) the hosts file has no
    /// line for the container's name until ``writeHosts(hostname:address:)``.
    func write(hostname: String, address: String?, hostResolvConf: String = "/etc/resolv.conf") throws {
        // 0700 folder (runc opens bind-mount sources as host root); the files stay 0644 so any
        // user inside the container can read them.
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try Self.hosts(hostname: hostname, address: address).write(toFile: hostsPath, atomically: true, encoding: .utf8)
        try "\(hostname)\n".write(toFile: hostnamePath, atomically: true, encoding: .utf8)
        try Self.containerResolvConf(hostResolvConf).write(toFile: resolvConfPath, atomically: true, encoding: .utf8)
    }

    /// Rewritten in place, never replaced: a created task's bind mount holds the file's inode,
    /// so a task not started yet reads the new text. Owner and mode stay as they were.
    func writeHosts(hostname: String, address: String) throws {
        let hosts = Self.hosts(hostname: hostname, address: address)
        let fd = open(hostsPath, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw RuntimeError.storage("cannot open \(hostsPath): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(hosts.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw RuntimeError.storage("cannot write \(hostsPath): \(String(cString: strerror(errno)))")
        }
    }

    /// The hosts file's text: loopback names, and the container's own name at its address.
    static func hosts(hostname: String, address: String?) -> String {
        """
        127.0.0.1\tlocalhost
        ::1\tlocalhost ip6-localhost ip6-loopback
        \(address.map { "\($0)\t\(hostname)\n" } ?? "")
        """
    }

    /// The host's resolver configuration without loopback name servers, which do not answer
    /// inside the container's network namespace; systemd-resolved's stub is replaced by the
    /// servers it forwards to, and with nothing left the container gets public resolvers, as
    /// Docker does.
    static func containerResolvConf(_ hostPath: String) -> String {
        var path = hostPath
        var text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        if text.contains("nameserver 127.0.0.53"),
           let upstream = try? String(contentsOfFile: "/run/systemd/resolve/resolv.conf", encoding: .utf8) {
            path = "/run/systemd/resolve/resolv.conf"
            text = upstream
        }
        var lines: [String] = []
        var servers = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.first == "nameserver", fields.count > 1 {
                let server = String(fields[1])
                if server.hasPrefix("127.") || server == "::1" { continue }
                servers += 1
            }
            lines.append(String(line))
        }
        if servers == 0 {
            lines.append("nameserver 8.8.8.8")
            lines.append("nameserver 8.8.4.4")
        }
        return lines.joined(separator: "\n").trimmingCharacters(in: .newlines) + "\n"
    }

    /// The name servers of ``containerResolvConf(_:)``, in order.
    static func nameservers(_ resolvConf: String) -> [String] {
        resolvConf.split(separator: "\n").compactMap { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            return fields.first == "nameserver" && fields.count > 1 ? String(fields[1]) : nil
        }
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// The name servers every container is given, for the network policy to let DNS through to them.
public enum ContainerResolvers {
    public static func nameservers(hostResolvConf: String = "/etc/resolv.conf") -> [String] {
        ContainerFiles.nameservers(ContainerFiles.containerResolvConf(hostResolvConf))
    }
}

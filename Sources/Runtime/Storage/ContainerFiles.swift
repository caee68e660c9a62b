import Foundation

/// The files Berth writes for a revision and bind-mounts into it: /etc/hosts, /etc/hostname and
/// /etc/resolv.conf.
struct ContainerFiles: Sendable {
    let directory: String

    var hostsPath: String { directory + "/hosts" }
    var hostnamePath: String { directory + "/hostname" }
    var resolvConfPath: String { directory + "/resolv.conf" }

    func write(hostname: String, address: String, hostResolvConf: String = "/etc/resolv.conf") throws {
        // 0700 folder (runc opens bind-mount sources as host root); the files stay 0644 so any
        // user inside the container can read them.
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let hosts = """
            127.0.0.1\tlocalhost
            ::1\tlocalhost ip6-localhost ip6-loopback
            \(address)\t\(hostname)

            """
        try hosts.write(toFile: hostsPath, atomically: true, encoding: .utf8)
        try "\(hostname)\n".write(toFile: hostnamePath, atomically: true, encoding: .utf8)
        try Self.containerResolvConf(hostResolvConf).write(toFile: resolvConfPath, atomically: true, encoding: .utf8)
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

import Foundation
import HostProcess
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Puts a ``NetworkPolicy`` into the kernel's filter tables and takes it out again, with
/// iptables (IPv4) and ip6tables (IPv6, when installed): read the table with `-S`, then one
/// `iptables-restore --noflush` per family, so each change is a single transaction and other
/// chains and rules stay as they are. Every call passes `-w` (wait for the xtables lock).
struct PolicyTables: Sendable {
    let logger: Logger

    private static let environment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    private static let folders = ["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin"]

    struct Tools {
        var list: String
        var restore: String
    }

    static func tools(_ family: NetworkPolicy.Family) -> Tools? {
        let name = family == .ipv4 ? "iptables" : "ip6tables"
        func find(_ tool: String) -> String? {
            folders.map { $0 + "/" + tool }.first { FileManager.default.isExecutableFile(atPath: $0) }
        }
        guard let list = find(name), let restore = find(name + "-restore") else { return nil }
        return Tools(list: list, restore: restore)
    }

    /// IPv4 is required (without it there is no policy, and containers must not run); IPv6 is
    /// applied where ip6tables exists.
    func apply(_ policy: NetworkPolicy) async throws {
        guard Self.tools(.ipv4) != nil else {
            throw CNIError(code: nil, message: "iptables and iptables-restore not found in \(Self.folders.joined(separator: ", ")); install iptables",
                           plugin: "iptables", command: "policy")
        }
        for family in [NetworkPolicy.Family.ipv4, .ipv6] {
            guard let tools = Self.tools(family) else {
                logger.info("ip6tables not found; the IPv6 part of the network policy is skipped", metadata: ["bridge": "\(policy.bridge)"])
                continue
            }
            let listing = try await run(tools.list, ["-w", "-t", "filter", "-S"])
            try await run(tools.restore, ["-w", "5", "--noflush"], stdin: policy.restoreInput(family, listing: listing))
        }
        logger.debug("network policy in place", metadata: ["bridge": "\(policy.bridge)", "chains": "\(policy.inputChain), \(policy.forwardChain)"])
    }

    /// Removes the bridge's chains and every jump into them; nothing else.
    func remove(bridge: String) async throws {
        for family in [NetworkPolicy.Family.ipv4, .ipv6] {
            guard let tools = Self.tools(family) else { continue }
            let listing = try await run(tools.list, ["-w", "-t", "filter", "-S"])
            if let input = NetworkPolicy.removalInput(bridge: bridge, listing: listing) {
                try await run(tools.restore, ["-w", "5", "--noflush"], stdin: input)
            }
        }
    }

    @discardableResult
    private func run(_ executable: String, _ arguments: [String], stdin: String = "") async throws -> String {
        let output = try await HostProcess.run(executable, arguments: arguments, environment: Self.environment,
                                                stdin: Data(stdin.utf8), timeout: .seconds(60))
        guard output.succeeded else {
            let stderr = String(decoding: output.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let name = (executable as NSString).lastPathComponent
            throw CNIError(code: nil, message: "\(name) \(arguments.joined(separator: " ")) failed: \(stderr.isEmpty ? "status \(output.exitStatus ?? -1)" : stderr)",
                           plugin: name, command: "policy")
        }
        return String(decoding: output.stdout, as: UTF8.self)
    }

    /// The host's own IPv4 and IPv6 addresses (every interface, up or not).
    static func hostAddresses() -> Set<String> {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var addresses: Set<String> = []
        var entry: UnsafeMutablePointer<ifaddrs>? = first
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            guard let address = current.pointee.ifa_addr else { continue }
            switch Int32(address.pointee.sa_family) {
            case AF_INET:
                let value = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                addresses.insert(IPv4Network.format(UInt32(bigEndian: value)))
            case AF_INET6:
                var bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                addresses.insert(IPCIDR.format(withUnsafeBytes(of: &bytes) { Array($0) }))
            default:
                continue
            }
        }
        return addresses
    }
}

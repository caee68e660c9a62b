import Foundation
import HostProcess

/// An IPv4 address with its prefix length as it sits on an interface ("10.213.7.1/24").
public struct InterfaceAddress: Sendable, Equatable, CustomStringConvertible {
    public let address: UInt32
    public let prefixLength: Int

    public init(address: UInt32, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// "a.b.c.d/n"; nil when it is not that.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPv4Network.parseAddress(parts[0]),
              let prefix = Int(parts[1]), (0...32).contains(prefix) else { return nil }
        self.init(address: address, prefixLength: prefix)
    }

    /// The address the bridge plugin gives a bridge it is the gateway of: host-local's default
    /// gateway, the subnet's first address, with the subnet's prefix.
    public static func gateway(of subnet: IPv4Network) -> InterfaceAddress {
        InterfaceAddress(address: subnet.address + 1, prefixLength: subnet.prefixLength)
    }

    /// The subnet the address is in ("10.213.7.0/24").
    public var subnet: String {
        let mask = prefixLength == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefixLength)
        return IPv4Network.format(address & mask) + "/\(prefixLength)"
    }

    public var description: String { IPv4Network.format(address) + "/\(prefixLength)" }
}

/// What start finds on Berth's bridge, gathered from the host.
struct BridgeState: Sendable, Equatable {
    /// The bridge's IPv4 addresses; nil when there is no interface of that name.
    var addresses: [InterfaceAddress]?
    /// False when an interface of that name exists but is not a bridge.
    var isBridge: Bool
    /// Interfaces enslaved to the bridge (containers' veths, or anyone else's).
    var ports: [String]
    /// Attachment records in this data folder (attached containers, or attaches a crash interrupted).
    var records: Int
}

/// What start does about the bridge's address. The bridge plugin refuses every ADD on a bridge
/// with another IPv4 address than the gateway ("already has an IP address different from …")
/// unless forceAddress, which would silently renumber a bridge containers still use. So this
/// is decided once, at start: an unused bridge is renumbered, a used one stops berthd.
enum BridgeAddressPlan: Sendable, Equatable {
    /// Nothing to do: no bridge yet (the first ADD makes it), or it has the gateway or no
    /// IPv4 address at all (the first ADD adds the gateway).
    case keep
    /// No container uses the bridge: remove these addresses and add the gateway.
    case reconfigure(remove: [InterfaceAddress], add: InterfaceAddress)
    case refuse(BridgeAddressConflict)

    static func decide(bridge: String, subnet: IPv4Network, state: BridgeState) -> BridgeAddressPlan {
        let gateway = InterfaceAddress.gateway(of: subnet)
        guard let addresses = state.addresses else { return .keep }
        guard state.isBridge else {
            return .refuse(BridgeAddressConflict(bridge: bridge, subnet: subnet, current: addresses, ports: state.ports,
                                                 records: state.records, notABridge: true))
        }
        let others = addresses.filter { $0 != gateway }
        if others.isEmpty { return .keep }
        guard state.ports.isEmpty, state.records == 0 else {
            return .refuse(BridgeAddressConflict(bridge: bridge, subnet: subnet, current: addresses, ports: state.ports,
                                                 records: state.records, notABridge: false))
        }
        return .reconfigure(remove: others, add: gateway)
    }
}

/// berthd's start refused: the bridge has another subnet's address and containers use it (or
/// the name is taken by an interface that is not a bridge). One line, naming the bridge, both
/// subnets and the ways out.
public struct BridgeAddressConflict: Error, CustomStringConvertible, Sendable, Equatable {
    public var bridge: String
    public var subnet: IPv4Network
    public var current: [InterfaceAddress]
    public var ports: [String]
    public var records: Int
    public var notABridge: Bool

    public var description: String {
        if notABridge {
            return "cni.bridge \(bridge) is an existing interface that is not a bridge; choose another cni.bridge or remove \(bridge)"
        }
        let old = current.map { "\($0) (subnet \($0.subnet))" }.joined(separator: ", ")
        let oldSubnets = current.map(\.subnet)
        var users: [String] = []
        if records > 0 { users.append("\(records) attachment record\(records == 1 ? "" : "s") in this data folder") }
        if !ports.isEmpty {
            let shown = ports.prefix(3).joined(separator: ", ") + (ports.count > 3 ? ", …" : "")
            users.append("\(ports.count) port\(ports.count == 1 ? "" : "s") on the bridge (\(shown))")
        }
        return "bridge \(bridge) has address \(old) but cni.subnet is \(subnet), and containers still use it "
            + "(\(users.joined(separator: ", "))); set cni.subnet back to \(oldSubnets.joined(separator: " or ")) "
            + "(delete its containers before changing it), or choose another cni.bridge"
    }
}

/// Reads and renumbers the bridge on the host: addresses with getifaddrs, ports from sysfs,
/// changes with iproute2's `ip` (only when renumbering).
enum BridgeLink {
    private static let environment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    private static let ipTools = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]

    static func state(bridge: String, records: Int) -> BridgeState {
        let folder = "/sys/class/net/\(bridge)"
        guard FileManager.default.fileExists(atPath: folder) else {
            return BridgeState(addresses: nil, isBridge: false, ports: [], records: records)
        }
        let ports = ((try? FileManager.default.contentsOfDirectory(atPath: folder + "/brif")) ?? []).sorted()
        return BridgeState(addresses: ipv4Addresses(of: bridge), isBridge: FileManager.default.fileExists(atPath: folder + "/bridge"),
                           ports: ports, records: records)
    }

    /// Every IPv4 address of the interface, secondaries (labelled "name:…") included.
    static func ipv4Addresses(of interface: String) -> [InterfaceAddress] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var found: [InterfaceAddress] = []
        var entry: UnsafeMutablePointer<ifaddrs>? = first
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            let name = String(cString: current.pointee.ifa_name)
            guard name == interface || name.hasPrefix(interface + ":"),
                  let address = current.pointee.ifa_addr, Int32(address.pointee.sa_family) == AF_INET else { continue }
            let value = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            let mask = current.pointee.ifa_netmask.map {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            } ?? ~UInt32(0)
            found.append(InterfaceAddress(address: value, prefixLength: mask.nonzeroBitCount))
        }
        return found
    }

    /// Removes the old addresses and adds the new one, as the bridge plugin would have.
    static func renumber(_ bridge: String, remove: [InterfaceAddress], add: InterfaceAddress) async throws {
        guard let ip = ipTools.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CNIError(code: nil, message: "bridge \(bridge) must be renumbered to \(add) but ip (iproute2) is not in "
                + ipTools.joined(separator: ", ") + "; install iproute2 or delete the bridge", plugin: "ip", command: "renumber")
        }
        for address in remove {
            try await run(ip, ["-4", "addr", "del", address.description, "dev", bridge])
        }
        try await run(ip, ["-4", "addr", "add", add.description, "brd", "+", "dev", bridge])
    }

    private static func run(_ ip: String, _ arguments: [String]) async throws {
        let output = try await HostProcess.run(ip, arguments: arguments, environment: environment, timeout: .seconds(30))
        guard output.succeeded else {
            let stderr = String(decoding: output.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let reason = output.timedOut ? "timed out" : stderr.isEmpty ? "status \(output.exitStatus ?? -1)" : stderr
            throw CNIError(code: nil, message: "ip \(arguments.joined(separator: " ")) failed: \(reason)", plugin: "ip", command: "renumber")
        }
    }
}

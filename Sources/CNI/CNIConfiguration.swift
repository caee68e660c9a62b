import Foundation
import JSONValue

/// The network Berth attaches containers to: one Linux bridge with a host-local IPv4 subnet,
/// the bridge as the containers' gateway, and outbound traffic masqueraded.
public struct CNIConfiguration: Sendable, Equatable {
    /// The CNI network name; host-local keeps its addresses under ipamDataDirectory/networkName.
    public var networkName: String
    public var bridge: String
    /// CIDR, e.g. "10.89.0.0/16".
    public var subnet: String
    /// Masquerade outbound traffic (the bridge plugin's ipMasq: a NAT chain per container).
    public var ipMasq: Bool
    /// Searched in order for each plugin; also the plugins' CNI_PATH.
    public var pluginDirectories: [String]
    /// host-local's dataDir.
    public var ipamDataDirectory: String
    /// Where the result of each ADD is kept for CHECK, DEL and re-adoption after a restart.
    public var resultsDirectory: String
    public var netnsDirectory: String
    public var cniVersion: String
    public var mtu: Int?
    /// The container's interface.
    public var interfaceName: String
    /// CIDRs containers may reach although the network policy refuses their range (private,
    /// link-local…); the bridge subnet and the host stay refused.
    public var egressAllow: [String]
    /// Keep IPv6 on in the containers' namespaces; off (Docker's default) turns it off on eth0.
    public var ipv6: Bool
    /// The node identity written into each attachment record (berthd's `berth.node`).
    public var nodeIdentity: String? = nil

    public static let supportedVersions = ["0.4.0", "1.0.0"]
    /// The plugins a configuration needs, by type.
    public static let requiredPlugins = ["bridge", "host-local", "loopback"]

    /// `resultsDirectory` defaults to "results" beside `ipamDataDirectory`.
    public init(
        networkName: String = "berth",
        bridge: String = "berth0",
        subnet: String = "10.89.0.0/16",
        ipMasq: Bool = true,
        pluginDirectories: [String] = ["/usr/lib/cni", "/opt/cni/bin"],
        ipamDataDirectory: String = "/var/lib/berth/cni/networks",
        resultsDirectory: String? = nil,
        netnsDirectory: String = "/run/netns",
        cniVersion: String = "1.0.0",
        mtu: Int? = nil,
        interfaceName: String = "eth0",
        egressAllow: [String] = [],
        ipv6: Bool = false
    ) {
        self.networkName = networkName
        self.bridge = bridge
        self.subnet = subnet
        self.ipMasq = ipMasq
        self.pluginDirectories = pluginDirectories
        self.ipamDataDirectory = ipamDataDirectory
        self.resultsDirectory = resultsDirectory
            ?? URL(fileURLWithPath: ipamDataDirectory).deletingLastPathComponent().appendingPathComponent("results").path
        self.netnsDirectory = netnsDirectory
        self.cniVersion = cniVersion
        self.mtu = mtu
        self.interfaceName = interfaceName
        self.egressAllow = egressAllow
        self.ipv6 = ipv6
    }

    /// Throws the first problem found, naming the field.
    public func validate() throws(CNIConfigurationError) {
        _ = try IPv4Network(cidr: subnet)
        guard Self.supportedVersions.contains(cniVersion) else {
            throw .unsupportedVersion(cniVersion, supported: Self.supportedVersions)
        }
        // The spec: letters, digits, '_', '.', '-'; it is also part of host-local's path.
        guard !networkName.isEmpty, networkName.count <= 64, networkName.first?.isNumberOrLetterASCII == true,
              networkName.allSatisfy({ $0.isNumberOrLetterASCII || "_.-".contains($0) })
        else {
            throw .invalidValue(field: "network name", value: networkName, reason: "use 1 to 64 letters, digits, '_', '.' or '-'")
        }
        try Self.validateInterfaceName(bridge, field: "bridge name")
        try Self.validateInterfaceName(interfaceName, field: "interface name")
        if let mtu, !(576...65535).contains(mtu) {
            throw .invalidValue(field: "MTU", value: String(mtu), reason: "must be between 576 and 65535")
        }
        for (field, path) in [("IPAM data directory", ipamDataDirectory), ("results directory", resultsDirectory),
                              ("netns directory", netnsDirectory)] where !path.hasPrefix("/") {
            throw .invalidValue(field: field, value: path, reason: "must be an absolute path")
        }
        for entry in egressAllow {
            do {
                _ = try IPCIDR(entry)
            } catch .invalidValue(_, let value, let reason) {
                throw .invalidValue(field: "egress allow entry", value: value, reason: reason)
            } catch {
                throw error
            }
        }
        if pluginDirectories.isEmpty {
            throw .pluginsNotFound(Self.requiredPlugins, searched: [])
        }
    }

    private static func validateInterfaceName(_ name: String, field: String) throws(CNIConfigurationError) {
        guard !name.isEmpty, name.utf8.count <= 15, name != "lo", name != ".", name != "..",
              name.allSatisfy({ $0.isNumberOrLetterASCII || "_.-".contains($0) })
        else {
            throw .invalidValue(field: field, value: name, reason: "a Linux interface name: 1 to 15 letters, digits, '_', '.' or '-'")
        }
    }

    /// The network configuration list: the bridge plugin with host-local IPAM, the bridge as
    /// gateway, hairpin mode (a container can reach itself through its own published address),
    /// and ipMasq as configured. The loopback interface is a network of its own
    /// (`loopbackConflist()`), run with CNI_IFNAME=lo.
    public func conflist() throws -> Data {
        try conflistValue().serialized()
    }

    /// The loopback network: the loopback plugin brings "lo" up in the container's namespace.
    public func loopbackConflist() throws -> Data {
        try loopbackConflistValue().serialized()
    }

    func conflistValue() throws(CNIConfigurationError) -> JSONValue {
        try validate()
        let ipam: [String: JSONValue] = [
            "type": .string("host-local"),
            "ranges": .array([.array([.object(["subnet": .string(subnet)])])]),
            "routes": .array([.object(["dst": .string("0.0.0.0/0")])]),
            "dataDir": .string(ipamDataDirectory),
        ]
        var bridgePlugin: [String: JSONValue] = [
            "type": .string("bridge"),
            "bridge": .string(bridge),
            "isGateway": .bool(true),
            "ipMasq": .bool(ipMasq),
            "hairpinMode": .bool(true),
            "ipam": .object(ipam),
        ]
        if let mtu { bridgePlugin["mtu"] = .integer(Int64(mtu)) }
        return .object([
            "cniVersion": .string(cniVersion),
            "name": .string(networkName),
            "plugins": .array([.object(bridgePlugin)]),
        ])
    }

    func loopbackConflistValue() throws(CNIConfigurationError) -> JSONValue {
        try validate()
        return .object([
            "cniVersion": .string(cniVersion),
            "name": .string(networkName + "-loopback"),
            "plugins": .array([.object(["type": .string("loopback")])]),
        ])
    }
}

extension Character {
    var isNumberOrLetterASCII: Bool {
        isASCII && (isLetter || isNumber)
    }
}

import JSONValue

/// A container's place on the network, as the plugins reported it.
public struct NetworkAttachment: Sendable, Codable, Equatable {
    public var containerID: String
    public var netnsPath: String
    /// The interface inside the namespace, e.g. "eth0".
    public var interface: String
    /// IPv4, dotted, without the prefix.
    public var address: String
    public var prefixLength: Int
    public var gateway: String?
    /// The container interface's MAC address.
    public var mac: String?
    /// The host end of the container's veth pair.
    public var hostInterface: String?

    public init(containerID: String, netnsPath: String, interface: String, address: String, prefixLength: Int,
                gateway: String? = nil, mac: String? = nil, hostInterface: String? = nil) {
        self.containerID = containerID
        self.netnsPath = netnsPath
        self.interface = interface
        self.address = address
        self.prefixLength = prefixLength
        self.gateway = gateway
        self.mac = mac
        self.hostInterface = hostInterface
    }

    /// Reads a 0.4.0 or 1.0.0 result (`interfaces`, `ips[{address: "10.89.0.5/16", gateway,
    /// interface}]`): the first IPv4 address on `interface` inside the namespace.
    init(result: JSONValue, containerID: String, netnsPath: String, interface: String, bridge: String) throws(CNINetworkError) {
        let interfaces = result["interfaces"]?.arrayValue ?? []
        func interfaceAt(_ index: JSONValue?) -> JSONValue? {
            guard case .integer(let position)? = index, position >= 0, position < interfaces.count else { return nil }
            return interfaces[Int(position)]
        }
        let candidates = (result["ips"]?.arrayValue ?? []).filter { ip in
            guard let address = ip["address"]?.stringValue, !address.contains(":") else { return false }
            guard let owner = interfaceAt(ip["interface"]) else { return ip["interface"] == nil }
            return owner["name"]?.stringValue == interface
        }
        guard let ip = candidates.first, let cidr = ip["address"]?.stringValue else {
            throw .unexpectedResult(containerID: containerID, reason: "no IPv4 address for \(interface) in the result")
        }
        let parts = cidr.split(separator: "/")
        guard parts.count == 2, IPv4Network.parseAddress(parts[0]) != nil, let prefix = Int(parts[1]), (0...32).contains(prefix) else {
            throw .unexpectedResult(containerID: containerID, reason: "malformed address \"\(cidr)\"")
        }
        let containerInterface = interfaceAt(ip["interface"])
            ?? interfaces.first { $0["name"]?.stringValue == interface && $0["sandbox"]?.stringValue?.isEmpty == false }
        let hostSide = interfaces.first {
            ($0["sandbox"]?.stringValue ?? "").isEmpty && $0["name"]?.stringValue != bridge
        }
        self.init(containerID: containerID, netnsPath: netnsPath, interface: interface, address: String(parts[0]),
                  prefixLength: prefix, gateway: ip["gateway"]?.stringValue,
                  mac: containerInterface?["mac"]?.stringValue, hostInterface: hostSide?["name"]?.stringValue)
    }
}

/// An attach half done (``CNINetwork/prepareAttachment(containerID:)``): the namespace exists
/// and is recorded; its interfaces come with ``CNINetwork/attach(_:)``.
public struct PreparedAttachment: Sendable {
    public let containerID: String
    public let netnsPath: String
    let networks: [AttachmentRecord.Network]
}

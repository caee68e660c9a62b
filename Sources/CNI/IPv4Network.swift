/// An IPv4 subnet in CIDR notation ("10.89.0.0/16").
public struct IPv4Network: Sendable, Equatable, CustomStringConvertible {
    public let address: UInt32
    public let prefixLength: Int

    /// Parses `a.b.c.d/n`. The host bits must be zero and the subnet must leave room for the
    /// gateway and at least one container (prefix 1...30).
    public init(cidr: String) throws(CNIConfigurationError) {
        let parts = cidr.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = Self.parseAddress(parts[0]),
              let prefix = Int(parts[1]), String(prefix) == parts[1]
        else {
            throw .invalidSubnet(cidr, reason: "expected IPv4 CIDR notation such as 10.89.0.0/16")
        }
        guard (1...30).contains(prefix) else {
            throw .invalidSubnet(cidr, reason: "the prefix length must be between 1 and 30 to leave room for a gateway and containers")
        }
        let mask = ~UInt32(0) << UInt32(32 - prefix)
        guard address & ~mask == 0 else {
            let network = Self.format(address & mask) + "/\(prefix)"
            throw .invalidSubnet(cidr, reason: "host bits are set; did you mean \(network)?")
        }
        self.address = address
        self.prefixLength = prefix
    }

    public var mask: UInt32 { ~UInt32(0) << UInt32(32 - prefixLength) }

    public var description: String { Self.format(address) + "/\(prefixLength)" }

    public func contains(_ dotted: String) -> Bool {
        guard let other = Self.parseAddress(Substring(dotted)) else { return false }
        return other & mask == address
    }

    static func parseAddress(_ text: Substring) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var value: UInt32 = 0
        for octet in octets {
            guard !octet.isEmpty, octet.count <= 3, octet.allSatisfy(\.isASCII),
                  let byte = UInt8(octet), String(byte) == octet
            else { return nil }
            value = value << 8 | UInt32(byte)
        }
        return value
    }

    static func format(_ address: UInt32) -> String {
        (0..<4).map { String(address >> UInt32(24 - 8 * $0) & 0xff) }.joined(separator: ".")
    }
}

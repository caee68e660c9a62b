#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 network in CIDR notation ("10.0.5.0/24", "fd00::/8"): an entry of the egress
/// allow list, or a range the network policy refuses.
public struct IPCIDR: Sendable, Hashable, CustomStringConvertible {
    /// The network address, 4 or 16 bytes.
    public let bytes: [UInt8]
    public let prefixLength: Int

    public var isIPv6: Bool { bytes.count == 16 }

    /// Parses `ADDRESS/PREFIX`; the host bits must be zero, so that what is allowed is what was meant.
    public init(_ text: String) throws(CNIConfigurationError) {
        let expected = "expected CIDR notation such as 10.0.5.0/24, 192.0.2.7/32 or fd00::/8"
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let prefix = Int(parts[1]), String(prefix) == parts[1],
              let bytes = Self.parseAddress(String(parts[0]))
        else { throw .invalidValue(field: "CIDR", value: text, reason: expected) }
        guard (0...bytes.count * 8).contains(prefix) else {
            throw .invalidValue(field: "CIDR", value: text, reason: "the prefix length must be 0 to \(bytes.count * 8)")
        }
        let network = Self.masked(bytes, prefix)
        guard network == bytes else {
            throw .invalidValue(field: "CIDR", value: text,
                                reason: "host bits are set; did you mean \(Self.format(network))/\(prefix)?")
        }
        self.bytes = bytes
        self.prefixLength = prefix
    }

    public var description: String { Self.format(bytes) + "/\(prefixLength)" }

    /// True when the dotted or colon-separated address lies inside this network.
    public func contains(_ address: String) -> Bool {
        guard let other = Self.parseAddress(address), other.count == bytes.count else { return false }
        return Self.masked(other, prefixLength) == bytes
    }

    /// 4 bytes for strict dotted IPv4 (no leading zeros), 16 for IPv6, nil otherwise.
    static func parseAddress(_ text: String) -> [UInt8]? {
        if !text.contains(":") {
            guard let value = IPv4Network.parseAddress(Substring(text)) else { return nil }
            return (0..<4).map { UInt8(truncatingIfNeeded: value >> UInt32(24 - 8 * $0)) }
        }
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    static func format(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
        return String(cString: buffer)
    }

    private static func masked(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = min(max(prefix - index * 8, 0), 8)
            return bits == 8 ? byte : byte & ~(UInt8(0xff) >> UInt8(bits))
        }
    }
}

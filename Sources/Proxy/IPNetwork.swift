import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A peer address as 128 bits, IPv4 kept as IPv4-mapped (`::ffff:a.b.c.d`), so a dual-stack
/// listener's mapped peers and plain IPv4 peers compare equal. Read from the socket address, not
/// from text: counting and matching peers costs no string work.
struct IPAddress: Hashable, Sendable {
    var high: UInt64
    var low: UInt64

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// `networkOrder`: as in `sin_addr.s_addr`.
    init(ipv4 networkOrder: UInt32) {
        self.init(high: 0, low: 0x0000_ffff_0000_0000 | UInt64(UInt32(bigEndian: networkOrder)))
    }

    init(ipv6 address: in6_addr) {
        let (high, low) = withUnsafeBytes(of: address) { raw in
            (UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
             UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        }
        self.init(high: high, low: low)
    }

    init?(_ address: SocketAddress) {
        switch address {
        case .v4(let v4):
            self.init(ipv4: v4.address.sin_addr.s_addr)
        case .v6(let v6):
            self.init(ipv6: v6.address.sin6_addr)
        case .unixDomainSocket:
            return nil
        }
    }

    /// `192.0.2.1` or `2001:db8::1`; nil when it is neither.
    init?(parsing text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(ipv4: v4.s_addr)
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        self.init(ipv6: v6)
    }

    var isIPv4: Bool { high == 0 && low >> 32 == 0xffff }

    /// What the per-client connection cap counts by: the address for IPv4, the /64 for IPv6 (one
    /// host usually holds a whole /64, so counting single IPv6 addresses would cap nothing).
    var clientKey: IPAddress { isIPv4 ? self : IPAddress(high: high, low: 0) }
}

/// A CIDR block (`10.0.0.0/8`, `2001:db8::/32`, or one address), e.g. a trusted proxy's.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    let base: IPAddress
    /// In the 128-bit space (an IPv4 /24 is 120 here).
    let prefixLength: Int
    public let description: String

    public struct ParseError: Error, Sendable {
        public let problem: String
    }

    public init(parsing text: String) throws(ParseError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parsing: String(parts[0])) else {
            throw ParseError(problem: "\"\(text)\" is not an IP address or CIDR block (e.g. 10.0.0.0/8, 2001:db8::/32)")
        }
        let maximum = address.isIPv4 ? 32 : 128
        var length = maximum
        if parts.count == 2 {
            guard let given = Int(parts[1]), (0...maximum).contains(given), parts[1].allSatisfy(\.isASCII) else {
                throw ParseError(problem: "\"\(text)\" has a prefix length outside 0–\(maximum)")
            }
            length = given
        }
        let fullLength = length + (128 - maximum)
        guard Self.masked(address, fullLength) == address else {
            throw ParseError(problem: "\"\(text)\" has host bits set; write the network address (e.g. 10.0.0.0/8)")
        }
        self.base = address
        self.prefixLength = fullLength
        self.description = text
    }

    func contains(_ address: IPAddress) -> Bool {
        Self.masked(address, prefixLength) == base
    }

    private static func masked(_ address: IPAddress, _ length: Int) -> IPAddress {
        func mask(_ bits: Int) -> UInt64 { bits <= 0 ? 0 : bits >= 64 ? .max : ~(UInt64.max >> UInt64(bits)) }
        return IPAddress(high: address.high & mask(length), low: address.low & mask(length - 64))
    }
}

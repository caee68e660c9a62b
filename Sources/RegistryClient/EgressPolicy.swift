import Foundation

/// Where the registry client may connect: http and https only, and never to a loopback,
/// link-local, private, shared (CGNAT), multicast or otherwise reserved address unless the host
/// was named by the operator (an insecure registry, an `allow_private` entry or a mirror).
///
/// Image references come from tenants, and redirects and token realms from foreign servers; left
/// unchecked they would make berthd, as root on the node, fetch from the node's own services
/// (a Docker socket on 127.0.0.1:2375, a cloud metadata service on 169.254.169.254). The check
/// is made on the addresses a name resolves to, and the connection goes to the checked address
/// (see `EgressConnector`), so DNS rebinding between check and connect does not help.
public struct EgressPolicy: Sendable, Equatable {
    /// `host` or `host:port` entries (lowercased); an entry without a port covers every port.
    public var allowedHosts: Set<String>
    /// Hosts spoken to over plain HTTP (exact `host[:port]`, as `RegistryConfiguration.insecureHosts`).
    public var insecureHosts: Set<String>

    public init(allowedHosts: Set<String> = [], insecureHosts: Set<String> = []) {
        self.allowedHosts = Set(allowedHosts.map { $0.lowercased() })
        self.insecureHosts = insecureHosts
    }

    /// Whether the operator named `host` (with `port`, the URL's effective port) so that it may
    /// have a non-public address.
    public func allowsAnyAddress(host: String, port: Int) -> Bool {
        let host = Self.bare(host).lowercased()
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return allowedHosts.contains(host) || allowedHosts.contains(bracketed)
            || allowedHosts.contains("\(bracketed):\(port)")
    }

    /// The host without the brackets of an IPv6 literal.
    static func bare(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }
}

/// What an IP address is, as far as connecting to it from the node is concerned.
public enum AddressClass: Sendable, Equatable, CustomStringConvertible {
    case global
    case loopback
    case linkLocal
    /// 0.0.0.0/8 and `::`: Linux connects these to the local host.
    case unspecified
    /// RFC 1918 and IPv6 unique-local (and the deprecated site-local) ranges.
    case privateNetwork
    /// 100.64.0.0/10, carrier-grade NAT; cloud providers put services there (100.100.100.200).
    case sharedAddressSpace
    case multicast
    /// Broadcast, 240.0.0.0/4, IETF protocol assignments, benchmarking and documentation ranges.
    case reserved

    public var isPublic: Bool { self == .global }

    public var description: String {
        switch self {
        case .global: "public address"
        case .loopback: "loopback address"
        case .linkLocal: "link-local address"
        case .unspecified: "unspecified address"
        case .privateNetwork: "private address"
        case .sharedAddressSpace: "shared (CGNAT) address"
        case .multicast: "multicast address"
        case .reserved: "reserved address"
        }
    }

    /// Classifies a textual IPv4 or IPv6 address; nil when it is not one.
    public static func of(_ text: String) -> AddressClass? {
        IPAddressBytes(text).map { of($0.bytes) }
    }

    /// Classifies 4 (IPv4) or 16 (IPv6) bytes in network order.
    public static func of(_ bytes: [UInt8]) -> AddressClass {
        bytes.count == 4 ? ipv4(bytes) : ipv6(bytes)
    }

    static func ipv4(_ b: [UInt8]) -> AddressClass {
        switch (b[0], b[1]) {
        case (0, _): return .unspecified
        case (127, _): return .loopback
        case (169, 254): return .linkLocal
        case (10, _), (172, 16...31), (192, 168): return .privateNetwork
        case (100, 64...127): return .sharedAddressSpace
        case (224...239, _): return .multicast
        case (240...255, _): return .reserved
        case (198, 18...19): return .reserved
        case (192, 0) where b[2] == 0 || b[2] == 2: return .reserved
        case (198, 51) where b[2] == 100, (203, 0) where b[2] == 113: return .reserved
        default: return .global
        }
    }

    static func ipv6(_ b: [UInt8]) -> AddressClass {
        let first10 = b[0..<10].allSatisfy { $0 == 0 }
        // ::ffff:a.b.c.d (mapped) reaches the IPv4 address itself.
        if first10, b[10] == 0xff, b[11] == 0xff { return ipv4(Array(b[12..<16])) }
        if first10, b[10] == 0, b[11] == 0 {
            if b[12..<15].allSatisfy({ $0 == 0 }) {
                if b[15] == 0 { return .unspecified }
                if b[15] == 1 { return .loopback }
            }
            // IPv4-compatible addresses are deprecated; nothing legitimate uses them.
            return .reserved
        }
        // 64:ff9b::/96 (NAT64) is translated to the embedded IPv4 address.
        if b[0..<12] == [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0] { return ipv4(Array(b[12..<16])) }
        // 64:ff9b:1::/48, local-use NAT64.
        if b[0..<6] == [0, 0x64, 0xff, 0x9b, 0, 1] { return .privateNetwork }
        // 2002::/16 (6to4) embeds an IPv4 address in bytes 2..<6.
        if b[0] == 0x20, b[1] == 0x02 { return ipv4(Array(b[2..<6])) }
        if b[0] == 0xff { return .multicast }
        if b[0] == 0xfe, b[1] & 0xc0 == 0x80 { return .linkLocal }
        if b[0] == 0xfe, b[1] & 0xc0 == 0xc0 { return .privateNetwork }
        if b[0] & 0xfe == 0xfc { return .privateNetwork }
        // 100::/64 (discard) and 2001:db8::/32 (documentation).
        if b[0] == 0x01, b[1] == 0, b[2..<8].allSatisfy({ $0 == 0 }) { return .reserved }
        if b[0..<4] == [0x20, 0x01, 0x0d, 0xb8] { return .reserved }
        return .global
    }
}

/// The bytes of a textual IP address (IPv6 with or without brackets).
struct IPAddressBytes: Equatable {
    var bytes: [UInt8]

    init?(_ text: String) {
        let bare = EgressPolicy.bare(text)
        var v4 = in_addr()
        if inet_pton(AF_INET, bare, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, bare, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The canonical text: dotted quad, or RFC 5952 IPv6.
    var text: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        return String(cString: buffer)
    }
}

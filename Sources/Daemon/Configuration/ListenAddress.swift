#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a listener binds: `127.0.0.1:8080`, `[::1]:8080`, `localhost:8080`, or `:8080` (every IPv4
/// interface, the same as `0.0.0.0:8080`; write `[::]:8080` for IPv6 and IPv4 together).
public struct ListenAddress: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// An IPv4 address, an IPv6 address (without brackets) or a host name; empty for every interface.
    public var host: String
    /// 1–65535.
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`, `[IPV6]:PORT` or `:PORT`. The error's `setting` and `source` are empty;
    /// configuration parsing fills them in.
    public init(parsing text: String) throws(ConfigurationError) {
        func fail(_ problem: String) -> ConfigurationError {
            ConfigurationError(setting: "", source: nil, problem: "\(quoted(text)) \(problem); expected HOST:PORT, [IPV6]:PORT or :PORT (e.g. 127.0.0.1:8080)")
        }
        guard !text.isEmpty else {
            throw ConfigurationError(setting: "", source: nil, problem: "empty listen address; expected HOST:PORT, [IPV6]:PORT or :PORT (e.g. 127.0.0.1:8080)")
        }
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw fail("has no closing bracket") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw fail("has no port after the bracketed address") }
            portText = rest.dropFirst()
            guard Self.isIPv6(String(host)) else { throw fail("has no valid IPv6 address in brackets") }
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                if text.allSatisfy(\.isNumber) { throw fail("has no host; write :\(text) for every interface or 127.0.0.1:\(text) for loopback only") }
                throw fail("has no port")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { throw fail("is an IPv6 address without brackets; write it as [ADDRESS]:PORT") }
            if !host.isEmpty && !Self.isIPv4(String(host)) && !Self.isHostName(String(host)) {
                throw fail("has an invalid host \(quoted(String(host)))")
            }
        }
        guard !portText.isEmpty else { throw fail("has no port") }
        guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText), portText.count <= 5 else {
            throw fail("has an invalid port \(quoted(String(portText)))")
        }
        guard (1...65535).contains(port) else { throw fail("has port \(port), out of range 1–65535") }
        self.host = String(host)
        self.port = port
    }

    /// `host:port`, `[ipv6]:port`, or `:port` for every interface.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The host to bind to: `0.0.0.0` when every interface is meant.
    public var bindHost: String { host.isEmpty ? "0.0.0.0" : host }

    static func isIPv4(_ text: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, text, &address) == 1
    }

    static func isIPv6(_ text: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET6, text, &address) == 1
    }

    /// A DNS host name: dot-separated labels of letters, digits and '-' (not at either end), 1–63
    /// each, 253 in all, and not all digits (that would be a malformed IPv4 address).
    static func isHostName(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.allSatisfy(isDNSLabel) else { return false }
        return !text.allSatisfy { $0 == "." || $0.isNumber }
    }

    static func isDNSLabel(_ label: Substring) -> Bool {
        guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-" else { return false }
        return label.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "-": true
            default: false
            }
        }
    }
}

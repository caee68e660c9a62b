import NIOHTTP1

/// What the proxy needs to know about a client's request, read from its head in one pass.
struct RequestInfo {
    var head: HTTPRequestHead
    /// The `Host` header as sent; nil when missing, empty or repeated (a 400).
    var host: String?
    /// `host` lowercased with the port removed: the routing key.
    var routeHost: String
    var keepAlive: Bool
    /// `Connection: upgrade` with an `Upgrade` header: relayed, tunnelled on 101.
    var isUpgrade: Bool
    var expectsContinue: Bool
    /// An `Expect` other than 100-continue: answered 417 (RFC 9110 §10.1.1).
    var hasUnsupportedExpectation: Bool
    var isChunked: Bool
    var connectionTokens: [Substring]

    var isHEAD: Bool { head.method == .HEAD }

    /// Safe to send again on a fresh connection when a reused one failed before answering.
    var isIdempotent: Bool {
        switch head.method {
        case .GET, .HEAD, .OPTIONS, .TRACE, .PUT, .DELETE: return true
        default: return false
        }
    }

    init(_ head: HTTPRequestHead) {
        self.head = head
        var host: String? = nil
        var hostCount = 0
        var connectionTokens: [Substring] = []
        var hasUpgradeHeader = false
        var expectsContinue = false
        var unsupportedExpectation = false
        var isChunked = false
        for (name, value) in head.headers {
            switch HeaderName(name) {
            case .host:
                host = value
                hostCount += 1
            case .connection:
                connectionTokens.append(contentsOf: headerTokens(value))
            case .upgrade:
                hasUpgradeHeader = true
            case .expect:
                if headerTokens(value).allSatisfy({ tokenEquals($0, "100-continue") }) {
                    expectsContinue = true
                } else {
                    unsupportedExpectation = true
                }
            case .transferEncoding:
                // The last coding decides the framing; the parser already rejected bad ones.
                if let last = headerTokens(value).last, tokenEquals(last, "chunked") { isChunked = true }
            default:
                break
            }
        }
        if hostCount == 1, let value = host, let key = Self.routingKey(value) {
            self.host = value
            self.routeHost = key
        } else {
            self.host = nil
            self.routeHost = ""
        }
        self.connectionTokens = connectionTokens
        let close = connectionTokens.contains { tokenEquals($0, "close") }
        if head.version.major == 1 && head.version.minor >= 1 {
            self.keepAlive = !close
        } else {
            self.keepAlive = !close && connectionTokens.contains { tokenEquals($0, "keep-alive") }
        }
        self.isUpgrade = hasUpgradeHeader && connectionTokens.contains { tokenEquals($0, "upgrade") }
        self.expectsContinue = expectsContinue
        self.hasUnsupportedExpectation = unsupportedExpectation
        self.isChunked = isChunked
    }

    /// `Example.COM:8080` → `example.com`, `[::1]:80` → `[::1]`; nil when nothing is left.
    static func routingKey(_ host: String) -> String? {
        var value = Substring(host)
        while value.first == " " || value.first == "\t" { value = value.dropFirst() }
        while value.last == " " || value.last == "\t" { value = value.dropLast() }
        if value.first == "[" {
            guard let close = value.firstIndex(of: "]") else { return nil }
            value = value[...close]
        } else if let colon = value.lastIndex(of: ":") {
            value = value[..<colon]
        }
        guard !value.isEmpty else { return nil }
        if value.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) {
            return value.lowercased()
        }
        return String(value)
    }
}

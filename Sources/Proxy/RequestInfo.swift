import NIOHTTP1

/// What the proxy needs to know about a client's request, read from its head in one pass.
///
/// A class, immutable once made: the state machine reads it on most events, and a struct of this
/// many strings, buffers and arrays was copied each time, a retain and a release for each
/// (`bench/proxy/callgrind.sh`).
final class RequestInfo {
    private(set) var head: RequestHead
    /// The `Host` header as sent; nil when missing, empty or repeated (a 400).
    private(set) var host: String?
    /// `host` lowercased with the port removed: the routing key.
    private(set) var routeHost: String
    private(set) var keepAlive: Bool
    /// `Connection: upgrade` with an `Upgrade` header: relayed, tunnelled on 101. Not an offer of
    /// `h2c`, which is about this connection, not the upstream's.
    private(set) var isUpgrade: Bool
    /// `Upgrade: h2c` that the proxy takes (`UpgradeRequest.isTaken`): answered 101, and the
    /// connection goes on as HTTP/2 with this request as stream 1.
    private(set) var upgradesToHTTP2: Bool
    /// A `Content-Length` was sent (an HTTP/2 request without one has its body framed by the
    /// stream, and goes to an HTTP/1.1 upstream chunked).
    private(set) var hasContentLength: Bool
    private(set) var expectsContinue: Bool
    /// An `Expect` other than 100-continue: answered 417 (RFC 9110 §10.1.1).
    private(set) var hasUnsupportedExpectation: Bool
    private(set) var isChunked: Bool
    private(set) var connectionTokens: [Substring]
    /// For an absolute-form target (`http://host:port/path`): the origin-form target sent upstream.
    /// The target's authority then stands in for `Host` (RFC 9112 §3.2.2).
    private(set) var originFormTarget: String?
    /// Neither origin-form, `*` for OPTIONS, nor an `http://` URL with a well-formed authority: 400.
    private(set) var hasInvalidTarget: Bool

    var isHEAD: Bool { head.method == .HEAD }

    /// Safe to send again on a fresh connection when a reused one failed before answering.
    var isIdempotent: Bool {
        switch head.method {
        case .GET, .HEAD, .OPTIONS, .TRACE, .PUT, .DELETE: return true
        default: return false
        }
    }

    init(_ head: RequestHead) {
        var host: String? = nil
        var hostCount = 0
        var connectionTokens: [Substring] = []
        var hasUpgradeHeader = false
        var expectsContinue = false
        var unsupportedExpectation = false
        var isChunked = false
        var hasContentLength = false
        head.fields.forEachSpecial { kind, value in
            switch kind {
            case .host:
                host = value
                hostCount += 1
            case .connection:
                connectionTokens.append(contentsOf: headerTokens(value))
            case .upgrade:
                hasUpgradeHeader = true
            case .contentLength:
                hasContentLength = true
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
        self.originFormTarget = nil
        self.hasInvalidTarget = false
        switch Self.targetForm(head.uri, method: head.method) {
        case .origin:
            break
        case .absolute(let authority, let path):
            // Host is still required of HTTP/1.1 (RFC 9112 §3.2), but its value is ignored.
            if hostCount == 1 || (hostCount == 0 && head.version == .http1_0) {
                host = authority
                hostCount = 1
            }
            self.originFormTarget = path
        case .invalid:
            self.hasInvalidTarget = true
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
        self.hasContentLength = hasContentLength
        self.isUpgrade = false
        self.upgradesToHTTP2 = false
        if hasUpgradeHeader && connectionTokens.contains(where: { tokenEquals($0, "upgrade") }) {
            let typed = head.typed
            if UpgradeRequest.offersH2C(typed.headers) {
                self.upgradesToHTTP2 = UpgradeRequest.isTaken(typed, connectionTokens: connectionTokens)
            } else {
                self.isUpgrade = true
            }
        }
        self.expectsContinue = expectsContinue
        self.hasUnsupportedExpectation = unsupportedExpectation
        self.isChunked = isChunked
        self.head = head  // last: the head moves in, where storing it first copied it
    }

    enum TargetForm: Equatable {
        case origin
        case absolute(authority: String, path: String)
        case invalid
    }

    /// The request target's form (RFC 9112 §3.2). Origin-form (`/path`) is decided by its first
    /// byte; only other targets are parsed. Only `http` is accepted: this proxy terminates no TLS,
    /// so an `https://` target would be a request for something it does not do.
    static func targetForm(_ uri: String, method: HTTPMethod) -> TargetForm {
        let bytes = uri.utf8
        guard let first = bytes.first else { return .invalid }
        if first == UInt8(ascii: "/") { return .origin }
        if uri == "*" { return method == .OPTIONS ? .origin : .invalid }
        let scheme = "http://".utf8
        guard bytes.count > scheme.count, zip(bytes, scheme).allSatisfy({ $0 | 0x20 == $1 | 0x20 }) else { return .invalid }
        let rest = Substring(uri).dropFirst(scheme.count)
        let end = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<end]
        guard isWellFormedAuthority(authority) else { return .invalid }
        let tail = rest[end...]
        let path = tail.isEmpty ? "/" : tail.first == "?" ? "/" + tail : String(tail)
        return .absolute(authority: String(authority), path: path)
    }

    /// `host[:port]` or `[v6]:port`: a DNS name (letters, digits, `-`, `.`, `_`), an IPv4 or a
    /// bracketed IPv6 literal, and 1–5 port digits. No userinfo (`user@host`), no percent-encoding.
    static func isWellFormedAuthority(_ authority: Substring) -> Bool {
        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        func isHex(_ byte: UInt8) -> Bool { isDigit(byte) || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "f")) }
        func isNameByte(_ byte: UInt8) -> Bool {
            isDigit(byte) || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "z"))
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
        }
        var port: Substring? = nil
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { return false }
            let literal = authority[authority.index(after: authority.startIndex)..<close].utf8
            guard !literal.isEmpty, literal.allSatisfy({ isHex($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }) else {
                return false
            }
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { return false }
                port = after.dropFirst()
            }
        } else {
            var name = authority
            if let colon = authority.firstIndex(of: ":") {
                name = authority[..<colon]
                port = authority[authority.index(after: colon)...]
            }
            guard !name.isEmpty, name.utf8.allSatisfy(isNameByte) else { return false }
        }
        if let port {
            guard (1...5).contains(port.utf8.count), port.utf8.allSatisfy(isDigit), Int(port)! <= 65535 else { return false }
        }
        return true
    }

    /// `Example.COM:8080` → `example.com`, `[::1]:80` → `[::1]`; nil when nothing is left.
    /// Works on the UTF-8 bytes (Character-wise trimming and searching cost more than the rest
    /// of the request head), and hands back `host` itself when it is already the key.
    static func routingKey(_ host: String) -> String? {
        var host = host
        // Offsets into the bytes: the key's start and end, and whether it has capitals.
        let found: (start: Int, end: Int, hasCapitals: Bool)? = host.withUTF8 { bytes in
            var start = 0
            var end = bytes.count
            func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
            while start < end, isBlank(bytes[start]) { start += 1 }
            while start < end, isBlank(bytes[end - 1]) { end -= 1 }
            guard start < end else { return nil }
            if bytes[start] == UInt8(ascii: "[") {
                var close = start
                while close < end, bytes[close] != UInt8(ascii: "]") { close += 1 }
                guard close < end else { return nil }
                end = close + 1
            } else {
                var colon = end - 1
                while colon >= start, bytes[colon] != UInt8(ascii: ":") { colon -= 1 }
                if colon >= start { end = colon }
            }
            guard start < end else { return nil }
            var hasCapitals = false
            for index in start..<end where bytes[index] >= UInt8(ascii: "A") && bytes[index] <= UInt8(ascii: "Z") {
                hasCapitals = true
                break
            }
            return (start, end, hasCapitals)
        }
        guard let found else { return nil }
        if !found.hasCapitals && found.start == 0 && found.end == host.utf8.count { return host }
        let utf8 = host.utf8
        let key = String(Substring(utf8[utf8.index(utf8.startIndex, offsetBy: found.start)..<utf8.index(utf8.startIndex, offsetBy: found.end)]))
        return found.hasCapitals ? key.lowercased() : key
    }
}

import NIOHTTP1

/// The client's address, rendered once per connection for the forwarding headers.
struct ClientAddress: Sendable, Equatable {
    /// For `X-Forwarded-For`: `192.0.2.1`, `2001:db8::1`.
    let ip: String
    /// For `Forwarded: for=`: `192.0.2.1`, `"[2001:db8::1]"` (RFC 7239 §6), `unknown`.
    let node: String
    /// A configured trusted proxy: its forwarding headers are kept and extended.
    let isTrusted: Bool

    init(ip: String?, isTrusted: Bool = false) {
        self.isTrusted = isTrusted
        guard let ip, !ip.isEmpty else {
            self.ip = "unknown"
            self.node = "unknown"
            return
        }
        self.ip = ip
        self.node = ip.contains(":") ? "\"[\(ip)]\"" : ip
    }
}

/// Header rewriting between client and upstream: hop-by-hop fields removed both ways, framing
/// decided by the proxy, forwarding fields added. Pure functions; the state machine calls them.
enum HeaderRewriter {
    /// The head sent upstream: always HTTP/1.1 (keep-alive by default), the client's `Host` kept
    /// (for an absolute-form target: the target's authority as `Host`, the target as a path).
    ///
    /// Forwarding fields: from an untrusted peer, the client's own `X-Forwarded-For`, `Forwarded`,
    /// `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Real-IP` are dropped, so what the upstream
    /// reads is what this proxy saw. From a trusted proxy they are kept, and the peer is appended
    /// to `X-Forwarded-For` and `Forwarded` (its `X-Forwarded-Proto/-Host` stand, e.g. `https`
    /// from a TLS-terminating balancer).
    static func upstreamRequestHead(
        for request: RequestInfo,
        client: ClientAddress,
        forwarded: String
    ) -> HTTPRequestHead {
        let headers = request.head.headers
        let trusted = client.isTrusted
        let absolute = request.originFormTarget != nil
        var out = HTTPHeaders()
        out.reserveCapacity(headers.count + 6)
        if absolute, let host = request.host { out.add(name: "host", value: host) }
        var forwardedFor: String? = nil
        var hasProto = false
        var hasForwardedHost = false
        for (name, value) in headers {
            switch HeaderName(name) {
            case .upgrade where request.isUpgrade:
                out.add(name: name, value: value)
            case .connection, .keepAlive, .proxyConnection, .te, .trailer, .transferEncoding, .upgrade,
                .proxyAuthorization, .proxyAuthenticate:
                continue
            case .expect:
                // The proxy answers 100-continue itself.
                continue
            case .host where absolute:
                continue
            case .xForwardedFor:
                if trusted { forwardedFor = forwardedFor.map { "\($0), \(value)" } ?? value }
            case .xForwardedProto:
                if trusted {
                    hasProto = true
                    out.add(name: name, value: value)
                }
            case .xForwardedHost:
                if trusted {
                    hasForwardedHost = true
                    out.add(name: name, value: value)
                }
            case .forwarded, .xRealIP:
                if trusted { out.add(name: name, value: value) }
            case .other, .host, .contentLength:
                out.add(name: name, value: value)
            }
        }
        removeNominated(by: request.connectionTokens, from: &out)
        if request.isChunked { out.add(name: "transfer-encoding", value: "chunked") }
        if request.isUpgrade { out.add(name: "connection", value: "upgrade") }
        out.add(name: "x-forwarded-for", value: forwardedFor.map { "\($0), \(client.ip)" } ?? client.ip)
        if !hasProto { out.add(name: "x-forwarded-proto", value: "http") }
        if !hasForwardedHost, let host = request.host { out.add(name: "x-forwarded-host", value: host) }
        out.add(name: "forwarded", value: forwarded)
        let uri = request.originFormTarget ?? request.head.uri
        return HTTPRequestHead(version: .http1_1, method: request.head.method, uri: uri, headers: out)
    }

    /// The `Forwarded` element this proxy appends: `for=…;host=…;proto=http`.
    static func forwardedElement(client: ClientAddress, host: String?) -> String {
        guard let host else { return "for=\(client.node);proto=http" }
        return "for=\(client.node);host=\(quotedIfNeeded(host));proto=http"
    }

    /// The head sent to the client, and whether the client connection stays open after it.
    static func clientResponseHead(
        _ head: HTTPResponseHead,
        for request: RequestInfo,
        keepAlive: Bool
    ) -> (head: HTTPResponseHead, keepAlive: Bool) {
        let status = head.status.code
        let switching = status == 101
        var out = HTTPHeaders()
        out.reserveCapacity(head.headers.count + 2)
        var connectionTokens: [Substring] = []
        var contentLength: String? = nil
        var upstreamChunked = false
        for (name, value) in head.headers {
            switch HeaderName(name) {
            case .upgrade where switching:
                out.add(name: name, value: value)
            case .connection:
                connectionTokens.append(contentsOf: headerTokens(value))
            case .transferEncoding:
                upstreamChunked = true
            case .contentLength:
                contentLength = value
            case .keepAlive, .proxyConnection, .te, .trailer, .upgrade, .proxyAuthorization, .proxyAuthenticate:
                continue
            case .other, .forwarded, .host, .expect, .xForwardedFor, .xForwardedProto, .xForwardedHost, .xRealIP:
                out.add(name: name, value: value)
            }
        }
        removeNominated(by: connectionTokens, from: &out)
        var keepAlive = keepAlive
        if switching {
            out.add(name: "connection", value: "upgrade")
            return (HTTPResponseHead(version: .http1_1, status: head.status, headers: out), false)
        }
        // With Transfer-Encoding the upstream's Content-Length is meaningless (RFC 9112 §6.3).
        let length = upstreamChunked ? nil : contentLength
        let hasBody = !(request.isHEAD || status < 200 || status == 204 || status == 304)
        if let length {
            out.add(name: "content-length", value: length)
        } else if hasBody {
            if request.head.version.major == 1 && request.head.version.minor >= 1 {
                out.add(name: "transfer-encoding", value: "chunked")
            } else {
                keepAlive = false  // an HTTP/1.0 client reads to EOF
            }
        }
        if !keepAlive {
            out.add(name: "connection", value: "close")
        } else if request.head.version.minor == 0 {
            out.add(name: "connection", value: "keep-alive")
        }
        return (HTTPResponseHead(version: .http1_1, status: head.status, headers: out), keepAlive)
    }

    /// Headers named by `Connection` are hop-by-hop too (RFC 9110 §7.6.1); framing fields and
    /// `Host` are never dropped that way.
    private static func removeNominated(by tokens: [Substring], from headers: inout HTTPHeaders) {
        for token in tokens {
            if tokenEquals(token, "close") || tokenEquals(token, "keep-alive") || tokenEquals(token, "upgrade")
                || tokenEquals(token, "host") || tokenEquals(token, "content-length")
                || tokenEquals(token, "transfer-encoding") || token.isEmpty
            {
                continue
            }
            headers.remove(name: String(token))
        }
    }

    private static func quotedIfNeeded(_ value: String) -> String {
        let isToken = value.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
        if isToken && !value.isEmpty { return value }
        var quoted = "\""
        for character in value {
            if character == "\"" || character == "\\" { quoted.append("\\") }
            quoted.append(character)
        }
        quoted.append("\"")
        return quoted
    }
}

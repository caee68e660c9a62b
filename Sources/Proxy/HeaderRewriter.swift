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
    ///
    /// One pass notes which of the names the proxy treats specially the head holds; the head is
    /// then sent as it came, less those to drop, plus the forwarding fields. The usual head holds
    /// none of them, and no header is copied one by one.
    ///
    /// To an upstream that speaks h2c, `TE: trailers` is kept (gRPC servers ask for it; it is the
    /// one `TE` HTTP/2 allows); NIO's HTTP/2 codec drops the connection-specific fields.
    /// `chunked`: the body goes chunked though the client did not say so (an HTTP/2 client's).
    static func upstreamRequestHead(
        for request: RequestInfo,
        client: ClientAddress,
        forwarding: inout ForwardingFields,
        upstream: UpstreamProtocol = .http1,
        chunked: Bool = false
    ) -> RequestHead {
        var out = request.head.fields
        let trusted = client.isTrusted
        let present = out.present
        var forwardedFor: String? = nil
        if trusted && present & HeaderName.xForwardedFor.bit != 0 {
            forwardedFor = out.values(.xForwardedFor).joined(separator: ", ")
        }
        let onlyTrailersTE = present & HeaderName.te.bit == 0 || out.values(.te).allSatisfy { tokenEquals(Substring($0), "trailers") }
        var drop = present & HeaderName.hopByHopBits
        if request.isUpgrade { drop &= ~HeaderName.upgrade.bit }
        if upstream == .h2c && onlyTrailersTE { drop &= ~HeaderName.te.bit }
        // The proxy answers 100-continue itself; X-Forwarded-For is written again below.
        drop |= present & (HeaderName.expect.bit | HeaderName.xForwardedFor.bit)
        if !trusted {
            drop |= present & (HeaderName.xForwardedProto.bit | HeaderName.xForwardedHost.bit | HeaderName.forwarded.bit
                | HeaderName.xRealIP.bit)
        }
        if drop != 0 { out.remove(drop) }
        // For an absolute-form target the target's authority is the Host.
        if request.originFormTarget != nil, let host = request.host { out.replaceOrAdd(name: "host", value: host) }
        removeNominated(by: request.connectionTokens, from: &out)
        if request.isChunked || chunked { out.add(name: "transfer-encoding", value: "chunked") }
        if request.isUpgrade { out.add(name: "connection", value: "upgrade") }
        out.append(forwarding.block(for: ForwardingFields.Key(
            host: request.host,
            forwardedFor: forwardedFor,
            keepsProto: trusted && present & HeaderName.xForwardedProto.bit != 0,
            keepsHost: trusted && present & HeaderName.xForwardedHost.bit != 0
        ), client: client))
        let uri = request.originFormTarget ?? request.head.uri
        return RequestHead(version: .http1_1, method: request.head.method, uri: uri, fields: out)
    }

    /// The `Forwarded` element this proxy appends: `for=…;host=…;proto=http`.
    static func forwardedElement(client: ClientAddress, host: String?) -> String {
        guard let host else { return "for=\(client.node);proto=http" }
        return "for=\(client.node);host=\(quotedIfNeeded(host));proto=http"
    }

    /// The head sent to the client, and whether the client connection stays open after it.
    /// The upstream's lines are kept as they came, less the hop-by-hop ones (`HeadFields`).
    static func clientResponseHead(
        _ head: ResponseHead,
        for request: RequestInfo,
        keepAlive: Bool
    ) -> (head: ResponseHead, keepAlive: Bool) {
        let status = head.status.code
        let switching = status == 101
        var out = head.fields
        let present = out.present
        let connectionTokens = present & HeaderName.connection.bit == 0 ? [] : out.connectionOptions
        let lengths = present & HeaderName.contentLength.bit == 0 ? 0 : out.count(.contentLength)
        let upstreamChunked = present & HeaderName.transferEncoding.bit != 0
        // With Transfer-Encoding the upstream's Content-Length is meaningless (RFC 9112 §6.3);
        // a 101 has none; repeated ones (equal, or the parser refused them) are sent once.
        let hasLength = lengths > 0 && !upstreamChunked && !switching
        // Read only when it is written again, once.
        let repeatedLength = hasLength && lengths > 1 ? out.values(.contentLength).first : nil
        var drop = present & HeaderName.hopByHopBits
        if switching { drop &= ~HeaderName.upgrade.bit }
        if !hasLength || lengths > 1 { drop |= present & HeaderName.contentLength.bit }
        if drop != 0 { out.remove(drop) }
        removeNominated(by: connectionTokens, from: &out)
        var keepAlive = keepAlive
        if request.head.version.major >= 2 {
            // The stream frames the body and ends with it: no framing or connection fields.
            return (ResponseHead(version: request.head.version, status: head.status, fields: out), false)
        }
        if switching {
            out.add(name: "connection", value: "upgrade")
            return (ResponseHead(version: .http1_1, status: head.status, fields: out), false)
        }
        let hasBody = !(request.isHEAD || status < 200 || status == 204 || status == 304)
        if hasLength {
            if let repeatedLength { out.add(name: "content-length", value: repeatedLength) }
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
        return (ResponseHead(version: .http1_1, status: head.status, fields: out), keepAlive)
    }

    /// Headers named by `Connection` are hop-by-hop too (RFC 9110 §7.6.1); framing fields and
    /// `Host` are never dropped that way.
    private static func removeNominated(by tokens: [Substring], from headers: inout HeadFields) {
        for token in tokens {
            if tokenEquals(token, "close") || tokenEquals(token, "keep-alive") || tokenEquals(token, "upgrade")
                || tokenEquals(token, "host") || tokenEquals(token, "content-length")
                || tokenEquals(token, "transfer-encoding") || token.isEmpty
            {
                continue
            }
            headers.remove(name: token)
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

/// The header names the proxy treats specially, recognised without allocating (one length switch
/// and an ASCII case-insensitive compare per header).
enum HeaderName: Equatable {
    case other
    case host
    case contentLength
    case expect
    case xForwardedFor
    case xForwardedProto
    case xForwardedHost
    case forwarded
    case xRealIP
    // Hop-by-hop: never forwarded as such (RFC 9110 §7.6.1).
    case connection
    case keepAlive
    case proxyConnection
    case te
    case trailer
    case transferEncoding
    case upgrade
    case proxyAuthorization
    case proxyAuthenticate

    var isHopByHop: Bool {
        switch self {
        case .connection, .keepAlive, .proxyConnection, .te, .trailer, .transferEncoding, .upgrade,
            .proxyAuthorization, .proxyAuthenticate:
            return true
        default:
            return false
        }
    }

    /// One bit per name, to note which ones a head holds in one pass.
    var bit: UInt32 {
        switch self {
        case .other: return 0
        case .host: return 1 << 0
        case .contentLength: return 1 << 1
        case .expect: return 1 << 2
        case .xForwardedFor: return 1 << 3
        case .xForwardedProto: return 1 << 4
        case .xForwardedHost: return 1 << 5
        case .forwarded: return 1 << 6
        case .xRealIP: return 1 << 7
        case .connection: return 1 << 8
        case .keepAlive: return 1 << 9
        case .proxyConnection: return 1 << 10
        case .te: return 1 << 11
        case .trailer: return 1 << 12
        case .transferEncoding: return 1 << 13
        case .upgrade: return 1 << 14
        case .proxyAuthorization: return 1 << 15
        case .proxyAuthenticate: return 1 << 16
        }
    }

    /// The bits of every hop-by-hop name.
    static let hopByHopBits: UInt32 = [
        HeaderName.connection, .keepAlive, .proxyConnection, .te, .trailer, .transferEncoding, .upgrade,
        .proxyAuthorization, .proxyAuthenticate,
    ].reduce(0) { $0 | $1.bit }

    /// Every name but `.other`.
    static let special: [HeaderName] = [
        .host, .contentLength, .expect, .xForwardedFor, .xForwardedProto, .xForwardedHost, .forwarded, .xRealIP,
        .connection, .keepAlive, .proxyConnection, .te, .trailer, .transferEncoding, .upgrade, .proxyAuthorization,
        .proxyAuthenticate,
    ]

    /// The name as the proxy writes it (nil-equivalent "" for `.other`).
    var lowercased: String {
        switch self {
        case .other: return ""
        case .host: return "host"
        case .contentLength: return "content-length"
        case .expect: return "expect"
        case .xForwardedFor: return "x-forwarded-for"
        case .xForwardedProto: return "x-forwarded-proto"
        case .xForwardedHost: return "x-forwarded-host"
        case .forwarded: return "forwarded"
        case .xRealIP: return "x-real-ip"
        case .connection: return "connection"
        case .keepAlive: return "keep-alive"
        case .proxyConnection: return "proxy-connection"
        case .te: return "te"
        case .trailer: return "trailer"
        case .transferEncoding: return "transfer-encoding"
        case .upgrade: return "upgrade"
        case .proxyAuthorization: return "proxy-authorization"
        case .proxyAuthenticate: return "proxy-authenticate"
        }
    }

    init(_ name: String) {
        var name = name
        self = name.withUTF8 { Self.classify($0) }
    }

    /// The name's bytes as read (`HTTP1Fields`).
    init(_ name: UnsafeRawBufferPointer) {
        self = Self.classify(name.assumingMemoryBound(to: UInt8.self))
    }

    private static func classify(_ n: UnsafeBufferPointer<UInt8>) -> HeaderName {
        switch n.count {
        case 2: return n.matches("te") ? .te : .other
        case 4: return n.matches("host") ? .host : .other
        case 6: return n.matches("expect") ? .expect : .other
        case 7:
            if n.matches("upgrade") { return .upgrade }
            return n.matches("trailer") ? .trailer : .other
        case 9:
            if n.matches("forwarded") { return .forwarded }
            return n.matches("x-real-ip") ? .xRealIP : .other
        case 10:
            if n.matches("connection") { return .connection }
            return n.matches("keep-alive") ? .keepAlive : .other
        case 14: return n.matches("content-length") ? .contentLength : .other
        case 15: return n.matches("x-forwarded-for") ? .xForwardedFor : .other
        case 16:
            if n.matches("proxy-connection") { return .proxyConnection }
            return n.matches("x-forwarded-host") ? .xForwardedHost : .other
        case 17:
            if n.matches("transfer-encoding") { return .transferEncoding }
            return n.matches("x-forwarded-proto") ? .xForwardedProto : .other
        case 18: return n.matches("proxy-authenticate") ? .proxyAuthenticate : .other
        case 19: return n.matches("proxy-authorization") ? .proxyAuthorization : .other
        default: return .other
        }
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// ASCII case-insensitive equality with a lowercase token of the same length. `| 0x20` folds
    /// letters; the only other byte it could confuse with `-` is CR, which the parser rejects.
    @inline(__always)
    func matches(_ lowercase: StaticString) -> Bool {
        guard self.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = lowercase.utf8Start
        for i in 0..<self.count where self[i] | 0x20 != expected[i] {
            return false
        }
        return true
    }
}

/// Comma-separated list tokens of a header value (`Connection: keep-alive, Upgrade`), lowercased.
///
/// Split and trimmed on the UTF-8 bytes: Character-wise splitting cost more than the rest of a
/// response head (every `Connection: keep-alive`). Empty elements are dropped, as `split` did.
func headerTokens(_ value: String) -> [Substring] {
    let bytes = value.utf8
    var tokens: [Substring] = []
    var start = bytes.startIndex
    func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
    while start < bytes.endIndex {
        let comma = bytes[start...].firstIndex(of: UInt8(ascii: ",")) ?? bytes.endIndex
        var first = start
        var end = comma
        if first < end {
            while first < end, isBlank(bytes[first]) { first = bytes.index(after: first) }
            while first < end, isBlank(bytes[bytes.index(before: end)]) { end = bytes.index(before: end) }
            tokens.append(Substring(bytes[first..<end]))
        }
        start = comma < bytes.endIndex ? bytes.index(after: comma) : comma
    }
    return tokens
}

/// ASCII case-insensitive equality of a list token with a lowercase word.
func tokenEquals(_ token: Substring, _ lowercase: String) -> Bool {
    token.utf8.count == lowercase.utf8.count
        && zip(token.utf8, lowercase.utf8).allSatisfy { $0 | 0x20 == $1 }
}

/// Whether a header name was nominated by the message's `Connection` header.
func isNominated(_ name: String, by tokens: [Substring]) -> Bool {
    tokens.contains { token in
        token.utf8.count == name.utf8.count
            && zip(token.utf8, name.utf8).allSatisfy { $0 | 0x20 == $1 | 0x20 }
    }
}

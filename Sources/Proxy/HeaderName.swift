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

    init(_ name: String) {
        var name = name
        self = name.withUTF8 { Self.classify($0) }
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
func headerTokens(_ value: String) -> [Substring] {
    value.split(separator: ",").map { token in
        var token = token
        while token.first == " " || token.first == "\t" { token = token.dropFirst() }
        while token.last == " " || token.last == "\t" { token = token.dropLast() }
        return token
    }
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

/// One challenge of a `WWW-Authenticate` header (RFC 7235): a scheme and its auth-params.
///
/// `Bearer realm="https://auth.docker.io/token",service="registry.docker.io"` has scheme
/// `Bearer` and parameters `realm` and `service`. Parameter names are lowercased, as they are
/// case-insensitive; values are unquoted and unescaped.
public struct AuthChallenge: Sendable, Equatable {
    public var scheme: String
    public var parameters: [String: String]

    public init(scheme: String, parameters: [String: String] = [:]) {
        self.scheme = scheme
        self.parameters = parameters
    }

    public var isBearer: Bool { scheme.lowercased() == "bearer" }
    public var isBasic: Bool { scheme.lowercased() == "basic" }
    public var realm: String? { parameters["realm"] }

    /// Every challenge in the values of one or more `WWW-Authenticate` headers. Garbage is
    /// skipped up to the next comma, so one bad challenge does not hide a good one.
    public static func parse(_ headers: [String]) -> [AuthChallenge] {
        headers.flatMap { parse($0) }
    }

    public static func parse(_ header: String) -> [AuthChallenge] {
        var scanner = Scanner(Array(header.utf8))
        var challenges: [AuthChallenge] = []
        while true {
            scanner.skip { $0 == .space || $0 == .tab || $0 == .comma }
            guard !scanner.atEnd else { break }
            let scheme = scanner.token()
            guard !scheme.isEmpty else {
                scanner.skipPastComma()
                continue
            }
            var challenge = AuthChallenge(scheme: scheme)
            parseParameters(&scanner, into: &challenge)
            challenges.append(challenge)
        }
        return challenges
    }

    private static func parseParameters(_ scanner: inout Scanner, into challenge: inout AuthChallenge) {
        while true {
            scanner.skip { $0 == .space || $0 == .tab || $0 == .comma }
            let start = scanner.position
            let name = scanner.token()
            guard !name.isEmpty else {
                // Not a parameter: the end, or garbage that the caller skips.
                return
            }
            scanner.skip { $0 == .space || $0 == .tab }
            guard scanner.peek == .equals else {
                // A bare token is the next challenge's scheme (or a token68, which no registry sends).
                scanner.position = start
                return
            }
            scanner.advance()
            scanner.skip { $0 == .space || $0 == .tab }
            let value = scanner.peek == .quote ? scanner.quotedString() : scanner.bareValue()
            challenge.parameters[name.lowercased()] = value
            scanner.skip { $0 == .space || $0 == .tab }
            if !scanner.atEnd, scanner.peek != .comma {
                scanner.skipPastComma()
            }
        }
    }
}

private extension UInt8 {
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let comma = UInt8(ascii: ",")
    static let equals = UInt8(ascii: "=")
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")

    /// RFC 7230 tchar.
    var isTokenCharacter: Bool {
        switch self {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(self)
        }
    }
}

private struct Scanner {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position >= bytes.count }
    var peek: UInt8? { atEnd ? nil : bytes[position] }

    mutating func advance() { position += 1 }

    mutating func skip(while predicate: (UInt8) -> Bool) {
        while let byte = peek, predicate(byte) { position += 1 }
    }

    mutating func token() -> String {
        let start = position
        skip { $0.isTokenCharacter }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// An unquoted value. Laxer than a token: some servers send URLs unquoted.
    mutating func bareValue() -> String {
        let start = position
        skip { $0 != .comma && $0 != .space && $0 != .tab }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// A quoted-string with `\` escapes; an unterminated one runs to the end.
    mutating func quotedString() -> String {
        advance()
        var value: [UInt8] = []
        while let byte = peek {
            advance()
            if byte == .quote { break }
            if byte == .backslash, let escaped = peek {
                value.append(escaped)
                advance()
            } else {
                value.append(byte)
            }
        }
        return String(decoding: value, as: UTF8.self)
    }

    /// Skips to just after the next comma outside a quoted string.
    mutating func skipPastComma() {
        while let byte = peek {
            if byte == .quote {
                _ = quotedString()
                continue
            }
            advance()
            if byte == .comma { return }
        }
    }
}

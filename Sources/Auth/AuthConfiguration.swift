#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How bearer tokens are verified: which keys (and so which algorithms) are accepted, which claim holds
/// the roles, and which issuer/audience a token must name.
///
/// - The accepted algorithms are exactly those of the configured keys: `HS256` when `hs256Secret` is set,
///   `RS256` for each RSA public key and `ES256` for each EC P-256 public key. Anything else (`none`,
///   `HS512`, `PS256`, …) is rejected with ``AuthError/unsupportedAlgorithm(_:)``.
/// - `leeway` is the allowed clock skew, applied to `exp` (a token is accepted until `exp + leeway`) and to
///   `nbf` (from `nbf - leeway`). It defaults to 30 seconds: enough for NTP-synchronised hosts, short
///   enough not to stretch short-lived tokens noticeably.
public struct AuthConfiguration: Sendable {
    /// The shared HS256 secret (see ``loadSecret(path:)``); at least 32 bytes. `nil`: HS256 not accepted.
    public var hs256Secret: [UInt8]?
    /// RS256 and ES256 verification keys.
    public var publicKeys: [PublicKey]
    /// The claim holding the caller's roles, a list of strings (`roles` by default).
    public var rolesClaim: String
    /// When set, a token's `iss` must equal it.
    public var issuer: String?
    /// When set, a token's `aud` (a string or a list of strings) must be or contain it.
    public var audience: String?
    /// Clock skew tolerated for `exp` and `nbf`; 30 seconds by default.
    public var leeway: Duration

    /// The default clock skew tolerated for `exp` and `nbf`.
    public static let defaultLeeway: Duration = .seconds(30)
    /// The shortest HS256 secret accepted (the size of the SHA-256 output, as RFC 7518 §3.2 requires).
    public static let minimumSecretLength = 32

    /// A public verification key in PEM form. The algorithm is detected from the key: an RSA key
    /// (`BEGIN PUBLIC KEY`, `BEGIN RSA PUBLIC KEY` or an RSA certificate) verifies `RS256` tokens, an EC
    /// P-256 key (or certificate) verifies `ES256` tokens. The key is parsed when the ``TokenVerifier`` is
    /// created (or by ``algorithm()``); a PEM that is not such a key is an ``AuthConfigurationError``.
    public struct PublicKey: Sendable, Equatable {
        /// The key id tokens name in their `kid` header. A token without `kid` is tried against every key
        /// of its algorithm; a token with a `kid` must name a configured key.
        public var kid: String?
        public var pem: String

        public init(kid: String? = nil, pem: String) {
            self.kid = kid
            self.pem = pem
        }

        /// Parses the PEM and returns the algorithm it verifies (`.rs256` or `.es256`).
        public func algorithm() throws(AuthConfigurationError) -> KeyAlgorithm {
            try ParsedPublicKey(self).algorithm
        }
    }

    /// A JWS algorithm the verifier can accept.
    public enum KeyAlgorithm: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case hs256 = "HS256"
        case rs256 = "RS256"
        case es256 = "ES256"

        public var description: String { rawValue }
    }

    public init(
        hs256Secret: [UInt8]? = nil,
        publicKeys: [PublicKey] = [],
        rolesClaim: String = "roles",
        issuer: String? = nil,
        audience: String? = nil,
        leeway: Duration = AuthConfiguration.defaultLeeway
    ) {
        self.hs256Secret = hs256Secret
        self.publicKeys = publicKeys
        self.rolesClaim = rolesClaim
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
    }

    /// The algorithms accepted with this configuration (without parsing the PEMs: a bad key is reported
    /// by ``TokenVerifier/init(configuration:)``).
    public var acceptedAlgorithms: Set<KeyAlgorithm> {
        var result: Set<KeyAlgorithm> = []
        if hs256Secret != nil { result.insert(.hs256) }
        for key in publicKeys {
            if let algorithm = try? key.algorithm() { result.insert(algorithm) }
        }
        return result
    }

    /// Reads a shared secret file: its raw bytes, with trailing newlines (`\n`, `\r\n`) trimmed. The
    /// bytes are used as they are (a hex secret from ``generateSecret()`` is used as its 64 ASCII bytes,
    /// not decoded).
    ///
    /// - Throws: ``AuthConfigurationError`` naming the path when the file cannot be read, is empty, or
    ///   holds fewer than ``minimumSecretLength`` bytes. The error never contains the secret.
    public static func loadSecret(path: String) throws(AuthConfigurationError) -> [UInt8] {
        var bytes: [UInt8]
        do {
            bytes = try readFile(path: path)
        } catch {
            throw .secretUnreadable(path: path, reason: error.reason)
        }
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") {
            bytes.removeLast()
        }
        guard !bytes.isEmpty else { throw .secretEmpty(path: path) }
        guard bytes.count >= minimumSecretLength else {
            throw .secretTooShort(path: path, length: bytes.count)
        }
        return bytes
    }

    /// Reads a PEM public key file into a ``PublicKey`` and checks that it parses.
    public static func loadPublicKey(path: String, kid: String? = nil) throws(AuthConfigurationError) -> PublicKey {
        let bytes: [UInt8]
        do {
            bytes = try readFile(path: path)
        } catch {
            throw .publicKeyUnreadable(path: path, reason: error.reason)
        }
        let key = PublicKey(kid: kid, pem: String(decoding: bytes, as: UTF8.self))
        do {
            _ = try key.algorithm()
        } catch {
            if case .invalidPublicKey(let kid, let reason) = error {
                throw .invalidPublicKey(kid: kid ?? path, reason: reason)
            }
            throw error
        }
        return key
    }

    /// A new random 32-byte secret as 64 lowercase hex characters (what `berthd` writes for the
    /// development setup). Uses the system's cryptographically secure generator.
    public static func generateSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let hexDigits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for _ in 0..<32 {
            let byte = UInt8.random(in: .min ... .max, using: &generator)
            text.append(hexDigits[Int(byte >> 4)])
            text.append(hexDigits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// A problem with the authentication setup: a secret or key file, a key, a duration, a mint request.
/// Descriptions name paths and key ids, never secret material.
public enum AuthConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    case secretUnreadable(path: String, reason: String)
    case secretEmpty(path: String)
    /// `path` is nil when the secret did not come from a file.
    case secretTooShort(path: String?, length: Int)
    case publicKeyUnreadable(path: String, reason: String)
    /// `kid` is the key id (or file path) when known.
    case invalidPublicKey(kid: String?, reason: String)
    case duplicateKeyID(String)
    /// Neither a shared secret nor a public key is configured.
    case noKeys
    case invalidRolesClaim(String)
    case invalidLeeway
    case invalidDuration(String)
    case invalidMintRequest(String)

    public var description: String {
        switch self {
        case .secretUnreadable(let path, let reason):
            return "cannot read the JWT secret file \(path): \(reason)"
        case .secretEmpty(let path):
            return "the JWT secret file \(path) is empty"
        case .secretTooShort(let path, let length):
            let source = path.map { "the JWT secret file \($0)" } ?? "the HS256 secret"
            return "\(source) holds \(length) bytes; HS256 needs at least \(AuthConfiguration.minimumSecretLength) (generate one with `openssl rand -hex 32`)"
        case .publicKeyUnreadable(let path, let reason):
            return "cannot read the JWT public key file \(path): \(reason)"
        case .invalidPublicKey(let kid, let reason):
            let name = kid.map { "JWT public key '\($0)'" } ?? "JWT public key"
            return "\(name) is not usable: \(reason)"
        case .duplicateKeyID(let kid):
            return "two JWT public keys have the key id '\(kid)'"
        case .noKeys:
            return "no JWT verification key is configured (set an HS256 secret or a public key)"
        case .invalidRolesClaim(let name):
            return "the roles claim name '\(name)' cannot be used (it must be non-empty and not a registered claim)"
        case .invalidLeeway:
            return "the JWT clock-skew leeway must not be negative"
        case .invalidDuration(let text):
            return "invalid duration '\(text)': use a number with a unit, like 90s, 30m, 1h, 2d (or 1h30m), or plain seconds"
        case .invalidMintRequest(let reason):
            return "cannot mint a token: \(reason)"
        }
    }
}

// MARK: - File reading

struct FileReadError: Error {
    var reason: String
}

/// Reads a whole (small) file with POSIX calls, so errors carry errno's text.
func readFile(path: String, limit: Int = 1 << 20) throws(FileReadError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileReadError(reason: String(cString: strerror(errno))) }
    defer { close(fd) }
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw FileReadError(reason: String(cString: strerror(errno)))
        }
        if count == 0 { break }
        result.append(contentsOf: buffer[0..<count])
        if result.count > limit { throw FileReadError(reason: "file is larger than \(limit) bytes") }
    }
    return result
}

/// Registered claims the verifier reads itself; the roles claim may not be one of them.
let registeredClaimNames: Set<String> = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"]

extension Duration {
    var timeInterval: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}

/// Why a request's bearer token was not accepted. Every case means 401 Unauthorized.
///
/// Descriptions are one line, safe to show to the client: they never contain secrets or key material,
/// and the token-supplied values they echo (`alg`, `kid`) are sanitised and truncated.
public enum AuthError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No `Authorization` header.
    case missingToken
    /// An `Authorization` header that is not `Bearer <token>`.
    case malformedHeader
    /// Not a compact JWS (three base64url parts with JSON header and payload).
    case malformedToken
    /// The token's `alg` is not one the configured keys verify (`none`, `HS512`, `HS256` without a secret…),
    /// or is not the algorithm of the key its `kid` names.
    case unsupportedAlgorithm(String)
    /// The token's `kid` names no configured key.
    case unknownKey(String?)
    /// The signature does not verify with any configured key of the token's algorithm.
    case badSignature
    /// `exp` (plus the leeway) is in the past.
    case expired
    /// `nbf` (minus the leeway) is in the future.
    case notYetValid
    /// The token has no `exp` claim.
    case missingExpiration
    /// The token has no (non-empty) `sub` claim.
    case missingSubject
    /// An issuer is configured and the token's `iss` is missing or different.
    case wrongIssuer
    /// An audience is configured and the token's `aud` is missing or does not contain it.
    case wrongAudience
    /// A claim has the wrong type (e.g. `exp` not a number, roles not a list of strings); carries its name.
    case invalidClaim(String)

    public var description: String {
        switch self {
        case .missingToken:
            return "missing bearer token (send 'Authorization: Bearer <token>')"
        case .malformedHeader:
            return "the Authorization header must be 'Bearer <token>'"
        case .malformedToken:
            return "the bearer token is not a well-formed JWT"
        case .unsupportedAlgorithm(let alg):
            return "the token's signing algorithm '\(alg)' is not accepted"
        case .unknownKey(let kid?):
            return "the token's key id '\(kid)' is not known"
        case .unknownKey(nil):
            return "no key is configured for the token"
        case .badSignature:
            return "the token's signature is not valid"
        case .expired:
            return "the token has expired"
        case .notYetValid:
            return "the token is not valid yet (nbf is in the future)"
        case .missingExpiration:
            return "the token has no expiration time (exp)"
        case .missingSubject:
            return "the token has no subject (sub)"
        case .wrongIssuer:
            return "the token's issuer is not accepted"
        case .wrongAudience:
            return "the token is not meant for this audience"
        case .invalidClaim(let name):
            return "the token's '\(name)' claim is invalid"
        }
    }
}

/// Makes a token-supplied string safe to echo: printable ASCII only, at most 64 characters.
func sanitizedForDisplay(_ text: String) -> String {
    var result = ""
    for scalar in text.unicodeScalars.prefix(64) {
        if scalar.value >= 0x20 && scalar.value < 0x7f && scalar != "'" && scalar != "\\" {
            result.unicodeScalars.append(scalar)
        } else {
            result.append("?")
        }
    }
    if text.unicodeScalars.count > 64 { result.append("…") }
    return result
}

/// The authenticated caller: the token's `sub` and its roles.
public struct Principal: Sendable, Equatable, Hashable {
    public var subject: String
    public var roles: Set<String>

    public init(subject: String, roles: Set<String> = []) {
        self.subject = subject
        self.roles = roles
    }

    /// Whether the roles hold `ADMIN` (exactly, case-sensitive).
    public var isAdmin: Bool { roles.contains("ADMIN") }
}

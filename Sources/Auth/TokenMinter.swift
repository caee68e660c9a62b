#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JSONValue
import JWTKit

/// Mints HS256 tokens with the shared secret (for `berthd token --sub alice --role ADMIN --ttl 1h`).
public struct TokenMinter: Sendable {
    private let collection: JWTKeyCollection
    private let secretLength: Int

    /// A secret shorter than ``AuthConfiguration/minimumSecretLength`` bytes is refused by ``mint(subject:roles:ttl:rolesClaim:issuer:audience:now:)``.
    public init(hs256Secret: [UInt8]) async {
        self.collection = JWTKeyCollection()
        self.secretLength = hs256Secret.count
        if hs256Secret.count >= AuthConfiguration.minimumSecretLength {
            await collection.add(hmac: HMACKey(from: hs256Secret), digestAlgorithm: .sha256)
        }
    }

    /// An HS256 token with `sub`, the roles (a list of strings) under `rolesClaim`, `iat` = `nbf` = now,
    /// `exp` = now + ttl (whole seconds), and `iss`/`aud` when given. A negative ttl mints a token that
    /// has already expired (useful in tests; ``parseDuration(_:)`` only yields positive durations).
    /// - Throws: ``AuthConfigurationError`` for a short secret, an empty subject, or a roles claim name
    ///   that is empty or a registered claim.
    public func mint(
        subject: String,
        roles: [String],
        ttl: Duration,
        rolesClaim: String = "roles",
        issuer: String? = nil,
        audience: String? = nil,
        now: Date = Date()
    ) async throws -> String {
        guard secretLength >= AuthConfiguration.minimumSecretLength else {
            throw AuthConfigurationError.secretTooShort(path: nil, length: secretLength)
        }
        guard !subject.isEmpty else { throw AuthConfigurationError.invalidMintRequest("the subject is empty") }
        guard !rolesClaim.isEmpty, !registeredClaimNames.contains(rolesClaim) else {
            throw AuthConfigurationError.invalidRolesClaim(rolesClaim)
        }
        let issuedAt = now.timeIntervalSince1970.rounded(.down)
        let expires = (now.timeIntervalSince1970 + ttl.timeInterval).rounded(.down)
        guard issuedAt.isFinite, expires.isFinite, abs(expires) < 1e15 else {
            throw AuthConfigurationError.invalidMintRequest("the expiration time is out of range")
        }
        var claims: [String: JSONValue] = [
            "sub": .string(subject),
            rolesClaim: .array(roles.map(JSONValue.string)),
            "iat": .integer(Int64(issuedAt)),
            "nbf": .integer(Int64(issuedAt)),
            "exp": .integer(Int64(expires)),
        ]
        if let issuer { claims["iss"] = .string(issuer) }
        if let audience { claims["aud"] = .string(audience) }
        return try await collection.sign(ClaimSet(claims))
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JWTKit
import Synchronization

/// Verifies bearer JWTs against the configured keys and turns them into a ``Principal``.
///
/// Key selection is done here, not left to jwt-kit's key collection (which falls back to its default key
/// for an unknown `kid` and does not tie a key to the header's `alg`):
/// 1. the header's `alg` must be the algorithm of at least one configured key (`HS256` for the shared
///    secret, `RS256`/`ES256` for public keys) — `none` and everything else is ``AuthError/unsupportedAlgorithm(_:)``;
/// 2. a `kid` must name a configured key (``AuthError/unknownKey(_:)``) whose algorithm is `alg`;
///    without `kid`, every key of that algorithm is tried;
/// 3. the signature is verified by jwt-kit with a collection holding just that one key, so an HS256
///    token can never be checked against an RSA/EC key's bytes, nor an RS256 token against the secret;
/// 4. then the claims: `exp` required, `nbf` when present (both with the leeway), `iss`/`aud` when
///    configured, `sub` required, the roles claim (absent or null: no roles; otherwise a list of strings).
public final class TokenVerifier: Sendable {
    private struct Key: Sendable {
        var kid: String?
        var algorithm: AuthConfiguration.KeyAlgorithm
        var collection: JWTKeyCollection
    }

    private let keys: [Key]
    private let acceptedAlgorithms: Set<String>
    private let rolesClaim: String
    private let issuer: String?
    private let audience: String?
    private let leeway: Double
    private let parser = DefaultJWTParser()
    /// The claims of tokens whose signature verified, by token. A client sends the same token with
    /// every request, and parsing and verifying it cost more than serving most requests (bench/api:
    /// a third of a list request's CPU). Only verified tokens enter, whole tokens are the keys, and
    /// the claims (`exp`, `nbf`, issuer, audience, roles) are checked again on every use.
    private let verified = Mutex<[String: ClaimSet]>([:])
    /// At most this many tokens are kept (then the cache starts over), none longer than
    /// `cacheableTokenLength`: the memory stays bounded whatever clients send.
    static let verifiedCapacity = 1024
    static let cacheableTokenLength = 4096

    /// The longest token accepted (a bound on the work an unauthenticated request can cause).
    public static let maximumTokenLength = 16 * 1024

    /// Parses the keys and builds one jwt-kit key collection per key.
    /// - Throws: ``AuthConfigurationError`` for a bad PEM, a short secret, a duplicate `kid`, no keys at
    ///   all, an unusable roles claim name, or a negative leeway.
    public init(configuration: AuthConfiguration) async throws {
        guard configuration.leeway >= .zero else { throw AuthConfigurationError.invalidLeeway }
        guard !configuration.rolesClaim.isEmpty, !registeredClaimNames.contains(configuration.rolesClaim) else {
            throw AuthConfigurationError.invalidRolesClaim(configuration.rolesClaim)
        }
        var keys: [Key] = []
        if let secret = configuration.hs256Secret {
            guard secret.count >= AuthConfiguration.minimumSecretLength else {
                throw AuthConfigurationError.secretTooShort(path: nil, length: secret.count)
            }
            let collection = JWTKeyCollection()
            await collection.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            keys.append(Key(kid: nil, algorithm: .hs256, collection: collection))
        }
        var kids: Set<String> = []
        for configured in configuration.publicKeys {
            if let kid = configured.kid {
                guard kids.insert(kid).inserted else { throw AuthConfigurationError.duplicateKeyID(kid) }
            }
            let parsed = try ParsedPublicKey(configured)
            let collection = JWTKeyCollection()
            switch parsed.key {
            case .rsa(let key):
                await collection.add(rsa: key, digestAlgorithm: .sha256)
            case .es256(let key):
                await collection.add(ecdsa: key)
            }
            keys.append(Key(kid: parsed.kid, algorithm: parsed.algorithm, collection: collection))
        }
        guard !keys.isEmpty else { throw AuthConfigurationError.noKeys }
        self.keys = keys
        self.acceptedAlgorithms = Set(keys.map(\.algorithm.rawValue))
        self.rolesClaim = configuration.rolesClaim
        self.issuer = configuration.issuer
        self.audience = configuration.audience
        self.leeway = configuration.leeway.timeInterval
    }

    /// Verifies the value of an `Authorization` header: `Bearer <jwt>` (the scheme is case-insensitive).
    /// `nil` → ``AuthError/missingToken``; another scheme or no token → ``AuthError/malformedHeader``.
    public func authenticate(authorizationHeader: String?) async throws(AuthError) -> Principal {
        try await authenticate(authorizationHeader: authorizationHeader, now: Date())
    }

    /// ``authenticate(authorizationHeader:)`` at a given time.
    public func authenticate(authorizationHeader: String?, now: Date) async throws(AuthError) -> Principal {
        guard let header = authorizationHeader else { throw .missingToken }
        let value = header.trimmingWhitespace()
        guard value.utf8.count > 7 else { throw .malformedHeader }
        let scheme = value.prefix(6)
        guard scheme.lowercased() == "bearer", let separator = value.dropFirst(6).first, separator == " " else {
            throw .malformedHeader
        }
        let token = String(value.dropFirst(7)).trimmingWhitespace()
        guard !token.isEmpty else { throw .malformedHeader }
        return try await verify(token, now: now)
    }

    /// Verifies a compact JWT and returns its principal.
    public func verify(_ token: String) async throws(AuthError) -> Principal {
        try await verify(token, now: Date())
    }

    /// ``verify(_:)`` at a given time (for `exp`/`nbf`).
    public func verify(_ token: String, now: Date) async throws(AuthError) -> Principal {
        if let claims = verified.withLock({ $0[token] }) { return try check(claims, now: now) }
        let claims = try await verifySignature(token)
        if token.utf8.count <= Self.cacheableTokenLength {
            verified.withLock { cache in
                if cache.count >= Self.verifiedCapacity { cache.removeAll(keepingCapacity: true) }
                cache[token] = claims
            }
        }
        return try check(claims, now: now)
    }

    // MARK: - Signature

    private func verifySignature(_ token: String) async throws(AuthError) -> ClaimSet {
        let bytes = Array(token.utf8)
        guard bytes.count <= Self.maximumTokenLength else { throw .malformedToken }
        let header: JWTHeader
        do {
            header = try parser.parse(bytes, as: ClaimSet.self).header
        } catch {
            throw .malformedToken
        }
        guard let alg = header.alg else { throw .malformedToken }
        // RFC 7515 §4.1.11: extensions listed in `crit` must be understood; we understand none.
        guard header.fields["crit"] == nil else { throw .malformedToken }
        guard acceptedAlgorithms.contains(alg) else {
            throw .unsupportedAlgorithm(sanitizedForDisplay(alg))
        }

        let candidates: [Key]
        if let kidField = header.fields["kid"] {
            guard let kid = kidField.asString else { throw .malformedToken }
            let named = keys.filter { $0.kid == kid }
            guard !named.isEmpty else { throw .unknownKey(sanitizedForDisplay(kid)) }
            candidates = named.filter { $0.algorithm.rawValue == alg }
            guard !candidates.isEmpty else { throw .unsupportedAlgorithm(sanitizedForDisplay(alg)) }
        } else {
            candidates = keys.filter { $0.algorithm.rawValue == alg }
        }

        for key in candidates {
            do {
                return try await key.collection.verify(bytes, as: ClaimSet.self)
            } catch let error as JWTError where error.errorType == .malformedToken {
                throw .malformedToken
            } catch {
                // signatureVerificationFailed, or a signature the key cannot even parse: try the next key.
                continue
            }
        }
        throw .badSignature
    }

    // MARK: - Claims

    private func check(_ claims: ClaimSet, now: Date) throws(AuthError) -> Principal {
        guard let expValue = claims["exp"], expValue != .null else { throw .missingExpiration }
        guard let exp = expValue.numericDate else { throw .invalidClaim("exp") }
        do {
            try ExpirationClaim(value: Date(timeIntervalSince1970: exp))
                .verifyNotExpired(currentDate: now.addingTimeInterval(-leeway))
        } catch {
            throw .expired
        }

        if let nbfValue = claims["nbf"], nbfValue != .null {
            guard let nbf = nbfValue.numericDate else { throw .invalidClaim("nbf") }
            // `nbf` is valid from that instant on (RFC 7519 §4.1.5: current time >= nbf).
            if now.addingTimeInterval(leeway) < Date(timeIntervalSince1970: nbf) {
                throw .notYetValid
            }
        }

        if let issuer {
            guard let value = claims["iss"], value != .null else { throw .wrongIssuer }
            guard let iss = value.stringValue else { throw .invalidClaim("iss") }
            guard iss == issuer else { throw .wrongIssuer }
        }

        if let audience {
            switch claims["aud"] {
            case nil, .null?:
                throw .wrongAudience
            case .string(let aud)?:
                guard aud == audience else { throw .wrongAudience }
            case .array(let list)?:
                var names: [String] = []
                for item in list {
                    guard let name = item.stringValue else { throw .invalidClaim("aud") }
                    names.append(name)
                }
                guard names.contains(audience) else { throw .wrongAudience }
            default:
                throw .invalidClaim("aud")
            }
        }

        let subject: String
        switch claims["sub"] {
        case nil, .null?:
            throw .missingSubject
        case .string(let value)?:
            guard !value.isEmpty else { throw .missingSubject }
            subject = value
        default:
            throw .invalidClaim("sub")
        }

        var roles: Set<String> = []
        switch claims[rolesClaim] {
        case nil, .null?:
            break
        case .array(let list)?:
            for item in list {
                guard let role = item.stringValue else { throw .invalidClaim(sanitizedForDisplay(rolesClaim)) }
                roles.insert(role)
            }
        default:
            throw .invalidClaim(sanitizedForDisplay(rolesClaim))
        }

        return Principal(subject: subject, roles: roles)
    }
}

import JWTKit

/// A configured public key, parsed: its algorithm and the jwt-kit key.
struct ParsedPublicKey: Sendable {
    enum Key: Sendable {
        case rsa(Insecure.RSA.PublicKey)
        case es256(ES256PublicKey)
    }

    var kid: String?
    var key: Key

    var algorithm: AuthConfiguration.KeyAlgorithm {
        switch key {
        case .rsa: return .rs256
        case .es256: return .es256
        }
    }

    init(_ configured: AuthConfiguration.PublicKey) throws(AuthConfigurationError) {
        self.kid = configured.kid
        let pem = configured.pem.trimmingWhitespace()
        func invalid(_ reason: String) -> AuthConfigurationError {
            .invalidPublicKey(kid: configured.kid, reason: reason)
        }
        guard let label = pemLabel(pem) else {
            throw invalid("not a PEM key (expected '-----BEGIN PUBLIC KEY-----' or '-----BEGIN CERTIFICATE-----')")
        }
        switch label {
        case "PUBLIC KEY", "RSA PUBLIC KEY":
            if let rsa = try? Insecure.RSA.PublicKey(pem: pem) {
                self.key = .rsa(rsa)
            } else if let ec = try? ES256PublicKey(pem: pem) {
                self.key = .es256(ec)
            } else {
                throw invalid(Self.diagnose(pem: pem))
            }
        case "CERTIFICATE":
            if let rsa = try? Insecure.RSA.PublicKey(certificatePEM: pem) {
                self.key = .rsa(rsa)
            } else if let ec = try? ES256PublicKey(certificate: pem) {
                self.key = .es256(ec)
            } else {
                throw invalid("the certificate does not hold an RSA (2048 bits or more) or EC P-256 public key")
            }
        case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
            throw invalid("this is a private key; configure the public key (e.g. `openssl pkey -in key.pem -pubout`)")
        default:
            throw invalid("unsupported PEM type '\(label)' (expected PUBLIC KEY or CERTIFICATE)")
        }
    }

    /// Why a `PUBLIC KEY` PEM is not accepted, as precisely as we can tell.
    private static func diagnose(pem: String) -> String {
        if (try? ES384PublicKey(pem: pem)) != nil || (try? ES512PublicKey(pem: pem)) != nil {
            return "EC keys must use the P-256 curve (ES256); P-384 and P-521 are not supported"
        }
        do {
            _ = try Insecure.RSA.PublicKey(pem: pem)
        } catch {
            if "\(error)".contains("keySizeTooSmall") {
                return "RSA keys must have at least 2048 bits"
            }
        }
        return "not a valid RSA or EC P-256 public key"
    }
}

/// The label of the first PEM block (`-----BEGIN <label>-----`), if the text starts with one.
private func pemLabel(_ pem: String) -> String? {
    let prefix = "-----BEGIN "
    guard pem.hasPrefix(prefix) else { return nil }
    let rest = pem.dropFirst(prefix.count)
    guard let end = rest.firstRange(of: "-----") else { return nil }
    return String(rest[..<end.lowerBound])
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}

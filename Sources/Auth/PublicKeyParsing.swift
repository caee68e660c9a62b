#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
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
        // swift-crypto refuses RSA keys under 2048 bits while parsing, so look at the key's algorithm.
        if let der = pemBody(pem) {
            if der.contains(subsequence: rsaEncryptionOID) || pem.contains("BEGIN RSA PUBLIC KEY") {
                return "not a usable RSA public key (RSA keys must have at least 2048 bits)"
            }
            if der.contains(subsequence: ecPublicKeyOID) {
                return "EC keys must use the P-256 curve (ES256)"
            }
        }
        return "not a valid RSA or EC P-256 public key"
    }
}

/// DER of the OIDs rsaEncryption (1.2.840.113549.1.1.1) and id-ecPublicKey (1.2.840.10045.2.1).
private let rsaEncryptionOID: [UInt8] = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]
private let ecPublicKeyOID: [UInt8] = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]

/// The base64 body of the first PEM block, decoded.
private func pemBody(_ pem: String) -> [UInt8]? {
    let lines = pem.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters() }
    guard let begin = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN ") }),
          let end = lines[(begin + 1)...].firstIndex(where: { $0.hasPrefix("-----END ") })
    else { return nil }
    let body = lines[(begin + 1)..<end].joined()
    guard let data = Data(base64Encoded: body) else { return nil }
    return Array(data)
}

private extension Substring {
    func trimmingCharacters() -> String { String(self).trimmingWhitespace() }
}

private extension Array where Element == UInt8 {
    func contains(subsequence: [UInt8]) -> Bool {
        guard subsequence.count <= count else { return false }
        for start in 0...(count - subsequence.count) where self[start..<(start + subsequence.count)].elementsEqual(subsequence) {
            return true
        }
        return false
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

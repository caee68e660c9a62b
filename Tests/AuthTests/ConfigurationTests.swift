import Foundation
import XCTest

@testable import Auth

final class SecretFileTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("auth-secret-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testTrailingNewlineIsTrimmed() throws {
        let secret = String(repeating: "s", count: 40)
        XCTAssertEqual(try AuthConfiguration.loadSecret(path: write("lf", Array((secret + "\n").utf8))), Array(secret.utf8))
        XCTAssertEqual(try AuthConfiguration.loadSecret(path: write("crlf", Array((secret + "\r\n").utf8))), Array(secret.utf8))
        XCTAssertEqual(try AuthConfiguration.loadSecret(path: write("none", Array(secret.utf8))), Array(secret.utf8))
        // Other bytes, including leading/inner whitespace and binary, are kept as they are.
        let binary: [UInt8] = [0x00, 0x20] + Array(repeating: 0xff, count: 40) + [0x20]
        XCTAssertEqual(try AuthConfiguration.loadSecret(path: write("binary", binary + [0x0a])), binary)
    }

    func testTooShortSecretIsRefused() throws {
        let path = try write("short", Array("tooshort\n".utf8))
        XCTAssertThrowsError(try AuthConfiguration.loadSecret(path: path)) { error in
            XCTAssertEqual(error as? AuthConfigurationError, .secretTooShort(path: path, length: 8))
            let text = "\(error)"
            XCTAssertTrue(text.contains(path), text)
            XCTAssertFalse(text.contains("tooshort"), text)
        }
        // 31 bytes: refused; 32: accepted.
        XCTAssertThrowsError(try AuthConfiguration.loadSecret(path: write("31", Array(repeating: 0x61, count: 31))))
        XCTAssertEqual(try AuthConfiguration.loadSecret(path: write("32", Array(repeating: 0x61, count: 32))).count, 32)
    }

    func testEmptySecretIsRefused() throws {
        for (name, content) in [("empty", ""), ("newline", "\n"), ("newlines", "\r\n\n")] {
            let path = try write(name, Array(content.utf8))
            XCTAssertThrowsError(try AuthConfiguration.loadSecret(path: path)) { error in
                XCTAssertEqual(error as? AuthConfigurationError, .secretEmpty(path: path))
                XCTAssertTrue("\(error)".contains(path))
            }
        }
    }

    func testMissingOrUnreadableSecretFile() throws {
        let missing = directory.appendingPathComponent("does-not-exist").path
        XCTAssertThrowsError(try AuthConfiguration.loadSecret(path: missing)) { error in
            guard case .secretUnreadable(let path, let reason)? = error as? AuthConfigurationError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(path, missing)
            XCTAssertFalse(reason.isEmpty)
            XCTAssertTrue("\(error)".contains(missing))
        }
        // A directory is not a secret file.
        XCTAssertThrowsError(try AuthConfiguration.loadSecret(path: directory.path)) { error in
            guard case .secretUnreadable? = error as? AuthConfigurationError else { return XCTFail("unexpected \(error)") }
        }
    }

    func testGeneratedSecret() throws {
        let first = AuthConfiguration.generateSecret()
        let second = AuthConfiguration.generateSecret()
        XCTAssertEqual(first.count, 64)
        XCTAssertTrue(first.allSatisfy { "0123456789abcdef".contains($0) })
        XCTAssertNotEqual(first, second)
        // What berthd writes loads back.
        let path = try write("generated", Array((first + "\n").utf8))
        XCTAssertEqual(try AuthConfiguration.loadSecret(path: path), Array(first.utf8))
    }

    func testLoadPublicKeyFile() throws {
        let rsa = try TestKeys.rsa.get()
        let path = try write("rsa.pub", Array(rsa.publicPEM.utf8))
        let key = try AuthConfiguration.loadPublicKey(path: path, kid: "k1")
        XCTAssertEqual(key.kid, "k1")
        XCTAssertEqual(try key.algorithm(), .rs256)

        let bad = try write("bad.pub", Array("hello".utf8))
        XCTAssertThrowsError(try AuthConfiguration.loadPublicKey(path: bad)) { error in
            guard case .invalidPublicKey(let kid, _)? = error as? AuthConfigurationError else { return XCTFail("\(error)") }
            XCTAssertEqual(kid, bad)
        }
        XCTAssertThrowsError(try AuthConfiguration.loadPublicKey(path: bad + ".missing")) { error in
            guard case .publicKeyUnreadable? = error as? AuthConfigurationError else { return XCTFail("\(error)") }
        }
    }
}

final class VerifierConfigurationTests: XCTestCase {
    func testDefaults() {
        let configuration = AuthConfiguration()
        XCTAssertEqual(configuration.rolesClaim, "roles")
        XCTAssertEqual(configuration.leeway, .seconds(30))
        XCTAssertNil(configuration.issuer)
        XCTAssertNil(configuration.audience)
        XCTAssertEqual(AuthConfiguration(hs256Secret: testSecret).acceptedAlgorithms, [.hs256])
    }

    func testAlgorithmDetection() throws {
        XCTAssertEqual(try AuthConfiguration.PublicKey(pem: TestKeys.rsa.get().publicPEM).algorithm(), .rs256)
        XCTAssertEqual(try AuthConfiguration.PublicKey(pem: TestKeys.ec.get().publicPEM).algorithm(), .es256)
        // PKCS#1 "RSA PUBLIC KEY" too.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("auth-pkcs1-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let privatePath = directory.appendingPathComponent("k.pem").path
        try TestKeys.rsa.get().privatePEM.write(toFile: privatePath, atomically: true, encoding: .utf8)
        let pkcs1 = try openssl(["rsa", "-in", privatePath, "-RSAPublicKey_out"])
        XCTAssertTrue(pkcs1.contains("BEGIN RSA PUBLIC KEY"))
        XCTAssertEqual(try AuthConfiguration.PublicKey(pem: pkcs1).algorithm(), .rs256)
        // A self-signed certificate.
        let certificate = try openssl(["req", "-x509", "-new", "-key", privatePath, "-subj", "/CN=test", "-days", "1"])
        XCTAssertEqual(try AuthConfiguration.PublicKey(pem: certificate).algorithm(), .rs256)
    }

    private func invalidKeyReason(_ pem: String, kid: String? = "k") async -> String? {
        let error = await configurationError {
            _ = try await makeVerifier(secret: nil, publicKeys: [.init(kid: kid, pem: pem)])
        }
        guard case .invalidPublicKey(let reportedKid, let reason)? = error else {
            XCTFail("unexpected \(String(describing: error))")
            return nil
        }
        XCTAssertEqual(reportedKid, kid)
        XCTAssertTrue("\(error!)".contains("'\(kid ?? "")'") || kid == nil)
        return reason
    }

    func testBadPEMIsAClearError() async throws {
        let garbage = await invalidKeyReason("not a key")
        XCTAssertEqual(garbage?.contains("not a PEM key"), true, garbage ?? "")
        let corrupt = await invalidKeyReason("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
        XCTAssertEqual(corrupt, "not a valid RSA or EC P-256 public key")
        let privateKey = await invalidKeyReason(try TestKeys.rsa.get().privatePEM)
        XCTAssertEqual(privateKey?.contains("private key"), true, privateKey ?? "")
        let p384 = await invalidKeyReason(try TestKeys.ecP384.get().publicPEM)
        XCTAssertEqual(p384?.contains("P-256"), true, p384 ?? "")
        let small = await invalidKeyReason(try TestKeys.smallRSA.get().publicPEM)
        XCTAssertEqual(small?.contains("2048"), true, small ?? "")
        let other = await invalidKeyReason("-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----")
        XCTAssertEqual(other?.contains("OPENSSH PRIVATE KEY"), true, other ?? "")
    }

    func testOtherConfigurationErrors() async throws {
        let rsa = try TestKeys.rsa.get()
        var error = await configurationError { _ = try await makeVerifier(secret: nil) }
        XCTAssertEqual(error, .noKeys)
        error = await configurationError { _ = try await makeVerifier(secret: Array("short".utf8)) }
        XCTAssertEqual(error, .secretTooShort(path: nil, length: 5))
        error = await configurationError {
            _ = try await makeVerifier(publicKeys: [.init(kid: "a", pem: rsa.publicPEM), .init(kid: "a", pem: rsa.publicPEM)])
        }
        XCTAssertEqual(error, .duplicateKeyID("a"))
        error = await configurationError { _ = try await makeVerifier(rolesClaim: "") }
        XCTAssertEqual(error, .invalidRolesClaim(""))
        error = await configurationError { _ = try await makeVerifier(rolesClaim: "exp") }
        XCTAssertEqual(error, .invalidRolesClaim("exp"))
        error = await configurationError { _ = try await makeVerifier(leeway: .seconds(-1)) }
        XCTAssertEqual(error, .invalidLeeway)
        // The secret never appears in an error's text.
        XCTAssertFalse("\(AuthConfigurationError.secretTooShort(path: "/etc/berth/secret", length: 5))".contains("short"))
    }

    func testErrorDescriptionsAreOneLineAndSanitised() async throws {
        let all: [AuthError] = [
            .missingToken, .malformedHeader, .malformedToken, .unsupportedAlgorithm("none"), .unknownKey("k"),
            .unknownKey(nil), .badSignature, .expired, .notYetValid, .missingExpiration, .missingSubject,
            .wrongIssuer, .wrongAudience, .invalidClaim("roles"),
        ]
        for error in all {
            XCTAssertFalse(error.description.isEmpty)
            XCTAssertFalse(error.description.contains("\n"))
        }
        let verifier = try await makeVerifier()
        let hostile = "x\n\u{1b}[31m" + String(repeating: "y", count: 200)
        let token = handCrafted(header: #"{"alg":"\#(hostile.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\u{1b}", with: "\\u001b"))"}"#, payload: "{}")
        do {
            _ = try await verifier.verify(token)
            XCTFail("accepted")
        } catch {
            guard case .unsupportedAlgorithm(let alg) = error else { return XCTFail("\(error)") }
            XCTAssertFalse(alg.contains("\n"))
            XCTAssertFalse(alg.contains("\u{1b}"))
            XCTAssertLessThanOrEqual(alg.count, 65)
        }
    }
}

final class ParseDurationTests: XCTestCase {
    func testValidDurations() throws {
        let table: [(String, Duration)] = [
            ("1h", .seconds(3600)),
            ("30m", .seconds(1800)),
            ("45s", .seconds(45)),
            ("2d", .seconds(172_800)),
            ("90", .seconds(90)),
            ("1", .seconds(1)),
            ("1h30m", .seconds(5400)),
            ("1d2h3m4s", .seconds(93_784)),
            (" 15m ", .seconds(900)),
            ("120m", .seconds(7200)),
            ("007s", .seconds(7)),
            ("1.5h", .seconds(5400)),
            ("1m30.5s", .milliseconds(90_500)),
        ]
        for (text, expected) in table {
            XCTAssertEqual(try parseDuration(text), expected, text)
        }
    }

    func testInvalidDurations() {
        for text in ["", " ", "h", "1x", "-1h", "+1h", "0", "0s", "500ms", "1H", "1 h", "1h 30m", "30m1h", "1h1h", "1h30",
                     "abc", "99999999999999999999", "1e3", "١٢s", "1000000d"] {
            XCTAssertThrowsError(try parseDuration(text), text) { error in
                XCTAssertEqual(error as? AuthConfigurationError, .invalidDuration(text))
                XCTAssertTrue("\(error)".contains("1h"))
            }
        }
    }
}

import Foundation
import JSONValue
import JWTKit
import XCTest

@testable import Auth

/// The shared secret of most tests: 64 bytes or more, so that jwt-kit can also sign HS384/HS512
/// with it (it asserts on HMAC keys shorter than the hash output).
let testSecret: [UInt8] = Array("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-test".utf8)
let otherSecret: [UInt8] = Array("fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210-other".utf8)

enum TestError: Error, CustomStringConvertible {
    case openssl(String)
    var description: String {
        switch self {
        case .openssl(let message): return "openssl failed: \(message)"
        }
    }
}

/// Runs the openssl CLI (no network involved).
@discardableResult
func openssl(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["openssl"] + arguments
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw TestError.openssl(String(decoding: errorData, as: UTF8.self))
    }
    return String(decoding: data, as: UTF8.self)
}

/// A private key generated with openssl and its public PEM.
struct GeneratedKey: Sendable {
    var privatePEM: String
    var publicPEM: String

    /// `algorithm`: "RSA" (bits) or "EC" (curve).
    static func make(_ genpkeyOptions: [String]) throws -> GeneratedKey {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("auth-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let privatePath = directory.appendingPathComponent("key.pem").path
        try openssl(["genpkey"] + genpkeyOptions + ["-out", privatePath])
        let publicPEM = try openssl(["pkey", "-in", privatePath, "-pubout"])
        let privatePEM = try String(contentsOfFile: privatePath, encoding: .utf8)
        return GeneratedKey(privatePEM: privatePEM, publicPEM: publicPEM)
    }
}

/// Keys generated once for the whole test run.
enum TestKeys {
    static let rsa = Result { try GeneratedKey.make(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]) }
    static let otherRSA = Result { try GeneratedKey.make(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]) }
    static let ec = Result { try GeneratedKey.make(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]) }
    static let ecP384 = Result { try GeneratedKey.make(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]) }
    static let smallRSA = Result { try GeneratedKey.make(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]) }
}

func base64URL(_ bytes: some Sequence<UInt8>) -> String {
    Data(bytes).base64EncodedString()
        .replacingOccurrences(of: "+", with: "-")
        .replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

/// Standard valid claims: sub alice, roles [ADMIN], exp in an hour.
func standardClaims(now: Date = Date(), extra: [String: JSONValue] = [:]) -> [String: JSONValue] {
    var claims: [String: JSONValue] = [
        "sub": .string("alice"),
        "roles": .array([.string("ADMIN")]),
        "iat": .integer(Int64(now.timeIntervalSince1970)),
        "exp": .integer(Int64(now.timeIntervalSince1970) + 3600),
    ]
    for (key, value) in extra { claims[key] = value }
    return claims
}

/// Signs arbitrary claims with jwt-kit, with a header of our choosing (`alg` defaults to the key's).
func signHS(
    _ claims: [String: JSONValue],
    secret: [UInt8] = testSecret,
    digest: DigestAlgorithm = .sha256,
    header: JWTHeader = JWTHeader()
) async throws -> String {
    let collection = JWTKeyCollection()
    await collection.add(hmac: HMACKey(from: secret), digestAlgorithm: digest)
    return try await collection.sign(ClaimSet(claims), header: header)
}

func signRS(_ claims: [String: JSONValue], privatePEM: String, header: JWTHeader = JWTHeader()) async throws -> String {
    let collection = JWTKeyCollection()
    await collection.add(rsa: try Insecure.RSA.PrivateKey(pem: privatePEM), digestAlgorithm: .sha256)
    return try await collection.sign(ClaimSet(claims), header: header)
}

func signES(_ claims: [String: JSONValue], privateKey: ES256PrivateKey, header: JWTHeader = JWTHeader()) async throws -> String {
    let collection = JWTKeyCollection()
    await collection.add(ecdsa: privateKey)
    return try await collection.sign(ClaimSet(claims), header: header)
}

/// Builds a token by hand from raw header and payload JSON and a signature.
func handCrafted(header: String, payload: String, signature: [UInt8] = []) -> String {
    "\(base64URL(Array(header.utf8))).\(base64URL(Array(payload.utf8))).\(base64URL(signature))"
}

func makeVerifier(
    secret: [UInt8]? = testSecret,
    publicKeys: [AuthConfiguration.PublicKey] = [],
    rolesClaim: String = "roles",
    issuer: String? = nil,
    audience: String? = nil,
    leeway: Duration = AuthConfiguration.defaultLeeway
) async throws -> TokenVerifier {
    try await TokenVerifier(configuration: AuthConfiguration(
        hs256Secret: secret,
        publicKeys: publicKeys,
        rolesClaim: rolesClaim,
        issuer: issuer,
        audience: audience,
        leeway: leeway
    ))
}

/// Asserts that verifying `token` fails with `expected`.
func assertRejects(
    _ verifier: TokenVerifier,
    token: String,
    now: Date = Date(),
    _ expected: AuthError,
    file: StaticString = #filePath,
    line: UInt = #line
) async {
    do {
        let principal = try await verifier.verify(token, now: now)
        XCTFail("expected \(expected), got \(principal)", file: file, line: line)
    } catch {
        XCTAssertEqual(error, expected, file: file, line: line)
    }
}

func assertRejects(
    _ verifier: TokenVerifier,
    header: String?,
    _ expected: AuthError,
    file: StaticString = #filePath,
    line: UInt = #line
) async {
    do {
        let principal = try await verifier.authenticate(authorizationHeader: header)
        XCTFail("expected \(expected), got \(principal)", file: file, line: line)
    } catch {
        XCTAssertEqual(error, expected, file: file, line: line)
    }
}

/// The configuration error `body` throws, or a test failure.
func configurationError(
    file: StaticString = #filePath,
    line: UInt = #line,
    _ body: () async throws -> Void
) async -> AuthConfigurationError? {
    do {
        try await body()
        XCTFail("expected an AuthConfigurationError", file: file, line: line)
        return nil
    } catch let error as AuthConfigurationError {
        return error
    } catch {
        XCTFail("expected an AuthConfigurationError, got \(error)", file: file, line: line)
        return nil
    }
}

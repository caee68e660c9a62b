import Foundation
import JSONValue
import JWTKit
import XCTest

@testable import Auth

final class HS256VerificationTests: XCTestCase {
    func testNoHeaderIsMissingToken() async throws {
        let verifier = try await makeVerifier()
        await assertRejects(verifier, header: nil, .missingToken)
    }

    func testNonBearerHeadersAreMalformed() async throws {
        let verifier = try await makeVerifier()
        let basic = "Basic " + Data("alice:secret".utf8).base64EncodedString()
        for header in [basic, "", "Bearer", "Bearer ", "Bearer    ", "Bearerabc.def.ghi", "Token abc", "Digest x=y"] {
            await assertRejects(verifier, header: header, .malformedHeader)
        }
    }

    func testGarbageBearerTokenIsMalformed() async throws {
        let verifier = try await makeVerifier()
        for token in ["garbage", "a.b.c", "...", "a.b", "a.b.c.d", "!!!.???.***", "e30.e30.", "bnVsbA.e30."] {
            await assertRejects(verifier, header: "Bearer \(token)", .malformedToken)
        }
        // A header that is JSON but has no alg.
        await assertRejects(verifier, token: handCrafted(header: #"{"typ":"JWT"}"#, payload: "{}"), .malformedToken)
        // Too long.
        await assertRejects(verifier, token: String(repeating: "a", count: 20_000) + ".e30.e30", .malformedToken)
    }

    func testValidHS256Token() async throws {
        let verifier = try await makeVerifier()
        let token = try await TokenMinter(hs256Secret: testSecret)
            .mint(subject: "alice", roles: ["ADMIN", "dev"], ttl: .seconds(3600))
        let principal = try await verifier.authenticate(authorizationHeader: "Bearer \(token)")
        XCTAssertEqual(principal, Principal(subject: "alice", roles: ["ADMIN", "dev"]))
        XCTAssertTrue(principal.isAdmin)

        // The scheme is case-insensitive; surrounding whitespace is ignored.
        let again = try await verifier.authenticate(authorizationHeader: "  bearer \(token) ")
        XCTAssertEqual(again.subject, "alice")
    }

    func testTokenWithoutRolesHasNoRoles() async throws {
        let verifier = try await makeVerifier()
        var claims = standardClaims()
        claims["roles"] = nil
        let principal = try await verifier.verify(try await signHS(claims))
        XCTAssertEqual(principal, Principal(subject: "alice", roles: []))
        XCTAssertFalse(principal.isAdmin)

        claims["roles"] = .null
        let withNull = try await verifier.verify(try await signHS(claims))
        XCTAssertEqual(withNull.roles, [])

        // ADMIN is case-sensitive.
        claims["roles"] = .array([.string("admin")])
        let lower = try await verifier.verify(try await signHS(claims))
        XCTAssertFalse(lower.isAdmin)
    }

    func testRolesUnderCustomClaimName() async throws {
        let minter = await TokenMinter(hs256Secret: testSecret)
        let token = try await minter.mint(subject: "bob", roles: ["ADMIN"], ttl: .seconds(600), rolesClaim: "groups")

        let custom = try await makeVerifier(rolesClaim: "groups")
        let principal = try await custom.verify(token)
        XCTAssertEqual(principal, Principal(subject: "bob", roles: ["ADMIN"]))

        // With the default claim name, the token has no roles.
        let standard = try await makeVerifier()
        let plain = try await standard.verify(token)
        XCTAssertEqual(plain, Principal(subject: "bob", roles: []))

        // A namespaced claim name (as Auth0 uses) works as well.
        let namespaced = try await makeVerifier(rolesClaim: "https://berth.example/roles")
        let namespacedToken = try await signHS(standardClaims(extra: [
            "https://berth.example/roles": .array([.string("ADMIN"), .string("ops")]),
        ]))
        let namespacedPrincipal = try await namespaced.verify(namespacedToken)
        XCTAssertEqual(namespacedPrincipal.roles, ["ADMIN", "ops"])
    }

    func testRolesThatAreNotAListOfStringsAreInvalid() async throws {
        let verifier = try await makeVerifier()
        for roles: JSONValue in [.string("ADMIN"), .array([.string("ADMIN"), .integer(1)]), .object([:]), .bool(true)] {
            let token = try await signHS(standardClaims(extra: ["roles": roles]))
            await assertRejects(verifier, token: token, .invalidClaim("roles"))
        }
    }

    func testMissingExpiration() async throws {
        let verifier = try await makeVerifier()
        var claims = standardClaims()
        claims["exp"] = nil
        await assertRejects(verifier, token: try await signHS(claims), .missingExpiration)
        claims["exp"] = .null
        await assertRejects(verifier, token: try await signHS(claims), .missingExpiration)
        claims["exp"] = .string("tomorrow")
        await assertRejects(verifier, token: try await signHS(claims), .invalidClaim("exp"))
    }

    func testExpiredBeyondLeeway() async throws {
        let verifier = try await makeVerifier(leeway: .seconds(30))
        let now = Date()
        let exp = Int64(now.timeIntervalSince1970) - 10
        let token = try await signHS(standardClaims(extra: ["exp": .integer(exp)]))

        // 10 s past exp: within the 30 s leeway.
        let principal = try await verifier.verify(token, now: now)
        XCTAssertEqual(principal.subject, "alice")
        // 31 s past exp: expired.
        await assertRejects(verifier, token: token, now: Date(timeIntervalSince1970: Double(exp) + 31), .expired)
        // Long expired.
        let old = try await TokenMinter(hs256Secret: testSecret)
            .mint(subject: "alice", roles: [], ttl: .seconds(60), now: now.addingTimeInterval(-3600))
        await assertRejects(verifier, token: old, .expired)
        await assertRejects(verifier, header: "Bearer \(old)", .expired)

        // A fractional exp works as a NumericDate too.
        let fractional = try await signHS(standardClaims(extra: ["exp": .number(now.timeIntervalSince1970 + 100.5)]))
        let ok = try await verifier.verify(fractional, now: now)
        XCTAssertEqual(ok.subject, "alice")
    }

    func testZeroLeeway() async throws {
        let verifier = try await makeVerifier(leeway: .zero)
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let token = try await signHS(standardClaims(extra: ["exp": .integer(1_700_000_000)]))
        await assertRejects(verifier, token: token, now: now, .expired)
        let before = try await verifier.verify(token, now: now.addingTimeInterval(-1))
        XCTAssertEqual(before.subject, "alice")
    }

    func testNotBeforeInTheFuture() async throws {
        let verifier = try await makeVerifier(leeway: .seconds(30))
        let now = Date()
        let nowSeconds = Int64(now.timeIntervalSince1970)
        let future = try await signHS(standardClaims(now: now, extra: ["nbf": .integer(nowSeconds + 300)]))
        await assertRejects(verifier, token: future, now: now, .notYetValid)

        // Within the leeway: accepted.
        let soon = try await signHS(standardClaims(now: now, extra: ["nbf": .integer(nowSeconds + 10)]))
        let principal = try await verifier.verify(soon, now: now)
        XCTAssertEqual(principal.subject, "alice")

        // In the past: accepted.
        let past = try await signHS(standardClaims(now: now, extra: ["nbf": .integer(nowSeconds - 10)]))
        _ = try await verifier.verify(past, now: now)

        let wrongType = try await signHS(standardClaims(now: now, extra: ["nbf": .string("now")]))
        await assertRejects(verifier, token: wrongType, now: now, .invalidClaim("nbf"))
    }

    func testBadSignature() async throws {
        let verifier = try await makeVerifier()
        let forged = try await signHS(standardClaims(), secret: otherSecret)
        await assertRejects(verifier, token: forged, .badSignature)

        // A valid token whose payload was changed.
        let valid = try await signHS(standardClaims())
        let parts = valid.split(separator: ".", omittingEmptySubsequences: false)
        let tampered = base64URL(Array(#"{"sub":"mallory","roles":["ADMIN"],"exp":9999999999}"#.utf8))
        await assertRejects(verifier, token: "\(parts[0]).\(tampered).\(parts[2])", .badSignature)

        // A truncated or missing signature.
        await assertRejects(verifier, token: "\(parts[0]).\(parts[1]).\(parts[2].dropLast(4))", .badSignature)
        await assertRejects(verifier, token: "\(parts[0]).\(parts[1]).", .badSignature)
    }

    func testAlgNoneIsRejected() async throws {
        let verifier = try await makeVerifier()
        let payload = #"{"sub":"mallory","roles":["ADMIN"],"exp":9999999999}"#
        await assertRejects(verifier, token: handCrafted(header: #"{"alg":"none"}"#, payload: payload), .unsupportedAlgorithm("none"))
        await assertRejects(verifier, header: "Bearer " + handCrafted(header: #"{"alg":"none","typ":"JWT"}"#, payload: payload), .unsupportedAlgorithm("none"))
        for alg in ["None", "NONE", "nOnE", ""] {
            await assertRejects(verifier, token: handCrafted(header: #"{"alg":"\#(alg)"}"#, payload: payload), .unsupportedAlgorithm(alg))
        }
        // alg none carrying the signature of a valid HS256 token over the same input.
        let header = base64URL(Array(#"{"alg":"none"}"#.utf8))
        let body = base64URL(Array(payload.utf8))
        let collection = JWTKeyCollection()
        await collection.add(hmac: HMACKey(from: testSecret), digestAlgorithm: .sha256)
        let signature = try await collection.getKey().sign(Array("\(header).\(body)".utf8))
        await assertRejects(verifier, token: "\(header).\(body).\(base64URL(signature))", .unsupportedAlgorithm("none"))
    }

    func testHS512IsRejectedWhenOnlyHS256IsConfigured() async throws {
        let verifier = try await makeVerifier()
        // Signed with the configured secret, but with HS512.
        let token = try await signHS(standardClaims(), digest: .sha512)
        await assertRejects(verifier, token: token, .unsupportedAlgorithm("HS512"))
        let hs384 = try await signHS(standardClaims(), digest: .sha384)
        await assertRejects(verifier, token: hs384, .unsupportedAlgorithm("HS384"))
    }

    func testKidOnHS256TokenMustBeKnown() async throws {
        let verifier = try await makeVerifier()
        let token = try await signHS(standardClaims(), header: ["kid": "whatever"])
        await assertRejects(verifier, token: token, .unknownKey("whatever"))
        let numericKid = try await signHS(standardClaims(), header: ["kid": .int(5)])
        await assertRejects(verifier, token: numericKid, .malformedToken)
    }

    func testCritHeaderIsRejected() async throws {
        let verifier = try await makeVerifier()
        let token = try await signHS(standardClaims(), header: ["crit": .array([.string("exp")]), "exp": .int(1)])
        await assertRejects(verifier, token: token, .malformedToken)
    }

    func testMissingSubject() async throws {
        let verifier = try await makeVerifier()
        var claims = standardClaims()
        claims["sub"] = nil
        await assertRejects(verifier, token: try await signHS(claims), .missingSubject)
        claims["sub"] = .string("")
        await assertRejects(verifier, token: try await signHS(claims), .missingSubject)
        claims["sub"] = .integer(42)
        await assertRejects(verifier, token: try await signHS(claims), .invalidClaim("sub"))
    }

    func testPayloadThatIsNotAnObjectIsMalformed() async throws {
        let verifier = try await makeVerifier()
        let header = base64URL(Array(#"{"alg":"HS256"}"#.utf8))
        let body = base64URL(Array("[1,2]".utf8))
        let collection = JWTKeyCollection()
        await collection.add(hmac: HMACKey(from: testSecret), digestAlgorithm: .sha256)
        let signature = try await collection.getKey().sign(Array("\(header).\(body)".utf8))
        await assertRejects(verifier, token: "\(header).\(body).\(base64URL(signature))", .malformedToken)
    }

    func testConcurrentVerification() async throws {
        let verifier = try await makeVerifier()
        let token = try await signHS(standardClaims())
        try await withThrowingTaskGroup(of: Principal.self) { group in
            for _ in 0..<50 {
                group.addTask { try await verifier.verify(token) }
            }
            for try await principal in group {
                XCTAssertEqual(principal.subject, "alice")
            }
        }
    }

    /// A token verified once is not verified again, but its claims still are: past its `exp` the
    /// same token is refused, and a token differing in any byte is verified afresh.
    func testAVerifiedTokenIsRememberedWithoutSkippingItsClaims() async throws {
        let verifier = try await makeVerifier()
        let token = try await TokenMinter(hs256Secret: testSecret).mint(subject: "alice", roles: [], ttl: .seconds(60))
        let now = Date()
        let first = try await verifier.verify(token, now: now)
        let second = try await verifier.verify(token, now: now)
        XCTAssertEqual(first, second)
        do {
            _ = try await verifier.verify(token, now: now.addingTimeInterval(3600))
            XCTFail("an expired token was accepted from the cache")
        } catch {
            XCTAssertEqual(error, .expired)
        }
        var tampered = Array(token.utf8)
        tampered[tampered.count - 2] = tampered[tampered.count - 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        await assertRejects(verifier, token: String(decoding: tampered, as: UTF8.self), .badSignature)
    }
}

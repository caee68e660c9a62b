import Foundation
import JWTKit
import XCTest

@testable import Auth

final class IssuerAudienceTests: XCTestCase {
    func testIssuer() async throws {
        let verifier = try await makeVerifier(issuer: "https://issuer.example")
        let right = try await signHS(standardClaims(extra: ["iss": .string("https://issuer.example")]))
        _ = try await verifier.verify(right)

        let wrong = try await signHS(standardClaims(extra: ["iss": .string("https://evil.example")]))
        await assertRejects(verifier, token: wrong, .wrongIssuer)
        let missing = try await signHS(standardClaims())
        await assertRejects(verifier, token: missing, .wrongIssuer)
        let wrongType = try await signHS(standardClaims(extra: ["iss": .array([.string("https://issuer.example")])]))
        await assertRejects(verifier, token: wrongType, .invalidClaim("iss"))

        // Not configured: any issuer is fine.
        let open = try await makeVerifier()
        _ = try await open.verify(wrong)
    }

    func testAudienceAsString() async throws {
        let verifier = try await makeVerifier(audience: "berth")
        _ = try await verifier.verify(try await signHS(standardClaims(extra: ["aud": .string("berth")])))
        await assertRejects(verifier, token: try await signHS(standardClaims(extra: ["aud": .string("other")])), .wrongAudience)
        await assertRejects(verifier, token: try await signHS(standardClaims()), .wrongAudience)
        await assertRejects(verifier, token: try await signHS(standardClaims(extra: ["aud": .integer(1)])), .invalidClaim("aud"))
    }

    func testAudienceAsList() async throws {
        let verifier = try await makeVerifier(audience: "berth")
        let containing = try await signHS(standardClaims(extra: ["aud": .array([.string("other"), .string("berth")])]))
        _ = try await verifier.verify(containing)
        let notContaining = try await signHS(standardClaims(extra: ["aud": .array([.string("other"), .string("third")])]))
        await assertRejects(verifier, token: notContaining, .wrongAudience)
        let empty = try await signHS(standardClaims(extra: ["aud": .array([])]))
        await assertRejects(verifier, token: empty, .wrongAudience)
        let mixed = try await signHS(standardClaims(extra: ["aud": .array([.string("berth"), .integer(2)])]))
        await assertRejects(verifier, token: mixed, .invalidClaim("aud"))
    }
}

final class TokenMinterTests: XCTestCase {
    func testMintRoundTrip() async throws {
        let now = Date()
        let minter = await TokenMinter(hs256Secret: testSecret)
        let token = try await minter.mint(
            subject: "alice", roles: ["ADMIN", "ops"], ttl: .seconds(3600),
            issuer: "berthd", audience: "berth", now: now)
        let verifier = try await makeVerifier(issuer: "berthd", audience: "berth")
        let principal = try await verifier.authenticate(authorizationHeader: "Bearer \(token)")
        XCTAssertEqual(principal, Principal(subject: "alice", roles: ["ADMIN", "ops"]))

        // The claims, as written.
        let collection = JWTKeyCollection()
        let claims = try await collection.unverified(token, as: ClaimSet.self)
        let seconds = Int64(now.timeIntervalSince1970)
        XCTAssertEqual(claims["sub"], .string("alice"))
        XCTAssertEqual(claims["roles"], .array([.string("ADMIN"), .string("ops")]))
        XCTAssertEqual(claims["iat"], .integer(seconds))
        XCTAssertEqual(claims["nbf"], .integer(seconds))
        XCTAssertEqual(claims["exp"], .integer(seconds + 3600))
        XCTAssertEqual(claims["iss"], .string("berthd"))
        XCTAssertEqual(claims["aud"], .string("berth"))

        // The header.
        let headerPart = String(token.split(separator: ".")[0])
        let headerJSON = try XCTUnwrap(Data(base64Encoded: headerPart.padding(toLength: (headerPart.count + 3) / 4 * 4, withPad: "=", startingAt: 0)))
        let header = try JSONSerialization.jsonObject(with: headerJSON) as? [String: String]
        XCTAssertEqual(header?["alg"], "HS256")

        // Expires after the ttl (plus leeway).
        await assertRejects(verifier, token: token, now: now.addingTimeInterval(3600 + 31), .expired)
        // Without iss/aud: no such claims.
        let plain = try await minter.mint(subject: "bob", roles: [], ttl: .seconds(60))
        let plainClaims = try await collection.unverified(plain, as: ClaimSet.self)
        XCTAssertNil(plainClaims["iss"])
        XCTAssertNil(plainClaims["aud"])
        XCTAssertEqual(plainClaims["roles"], .array([]))
    }

    func testMintWithParsedDuration() async throws {
        let minter = await TokenMinter(hs256Secret: testSecret)
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let token = try await minter.mint(subject: "alice", roles: ["ADMIN"], ttl: try parseDuration("1h"), now: now)
        let claims = try await JWTKeyCollection().unverified(token, as: ClaimSet.self)
        XCTAssertEqual(claims["exp"], .integer(1_700_003_600))
    }

    func testMintRefusals() async throws {
        let minter = await TokenMinter(hs256Secret: testSecret)
        var error = await configurationError { _ = try await minter.mint(subject: "", roles: [], ttl: .seconds(60)) }
        XCTAssertEqual(error, .invalidMintRequest("the subject is empty"))
        // A negative ttl mints an already-expired token.
        let expired = try await minter.mint(subject: "a", roles: [], ttl: .seconds(-3600))
        await assertRejects(try await makeVerifier(), token: expired, .expired)
        error = await configurationError { _ = try await minter.mint(subject: "a", roles: [], ttl: .seconds(60), rolesClaim: "sub") }
        XCTAssertEqual(error, .invalidRolesClaim("sub"))

        let short = await TokenMinter(hs256Secret: Array("short".utf8))
        error = await configurationError { _ = try await short.mint(subject: "a", roles: [], ttl: .seconds(60)) }
        XCTAssertEqual(error, .secretTooShort(path: nil, length: 5))
    }
}

import RegistryClient
import XCTest

final class AuthChallengeTests: XCTestCase {
    func testBasic() {
        XCTAssertEqual(AuthChallenge.parse(#"Basic realm="Registry Realm""#),
                       [AuthChallenge(scheme: "Basic", parameters: ["realm": "Registry Realm"])])
    }

    func testDockerHubBearer() {
        let challenges = AuthChallenge.parse(
            #"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull""#)
        XCTAssertEqual(challenges.count, 1)
        XCTAssertTrue(challenges[0].isBearer)
        XCTAssertEqual(challenges[0].realm, "https://auth.docker.io/token")
        XCTAssertEqual(challenges[0].parameters["service"], "registry.docker.io")
        XCTAssertEqual(challenges[0].parameters["scope"], "repository:library/ubuntu:pull")
    }

    func testQuotedCommasAndEscapes() {
        let challenges = AuthChallenge.parse(
            #"Bearer realm="https://a.example/token",scope="repository:a/b:pull,push",error="insufficient_scope",error_description="say \"hi\", then \\ go""#)
        XCTAssertEqual(challenges.count, 1)
        XCTAssertEqual(challenges[0].parameters["scope"], "repository:a/b:pull,push")
        XCTAssertEqual(challenges[0].parameters["error"], "insufficient_scope")
        XCTAssertEqual(challenges[0].parameters["error_description"], #"say "hi", then \ go"#)
    }

    func testMultipleChallengesInOneHeader() {
        let challenges = AuthChallenge.parse(#"Basic realm="r", Bearer realm="https://t.example/token", service=s"#)
        XCTAssertEqual(challenges, [
            AuthChallenge(scheme: "Basic", parameters: ["realm": "r"]),
            AuthChallenge(scheme: "Bearer", parameters: ["realm": "https://t.example/token", "service": "s"]),
        ])
    }

    func testChallengeWithoutParametersFollowedByAnother() {
        let challenges = AuthChallenge.parse(#"Negotiate, Basic realm="x""#)
        XCTAssertEqual(challenges.map(\.scheme), ["Negotiate", "Basic"])
        XCTAssertEqual(challenges[1].realm, "x")
    }

    func testSeveralHeaders() {
        let challenges = AuthChallenge.parse([#"Basic realm="one""#, #"Bearer realm="https://two/token""#])
        XCTAssertEqual(challenges.map(\.scheme), ["Basic", "Bearer"])
    }

    func testCaseInsensitiveSchemeAndNames() {
        let challenges = AuthChallenge.parse(#"BEARER Realm="https://x/token", SERVICE="svc""#)
        XCTAssertTrue(challenges[0].isBearer)
        XCTAssertEqual(challenges[0].realm, "https://x/token")
        XCTAssertEqual(challenges[0].parameters["service"], "svc")
    }

    func testSpacesAroundEqualsAndUnquotedURL() {
        let challenges = AuthChallenge.parse(#"Bearer realm = https://x.example/token , service = "s""#)
        XCTAssertEqual(challenges[0].realm, "https://x.example/token")
        XCTAssertEqual(challenges[0].parameters["service"], "s")
    }

    func testGarbage() {
        XCTAssertEqual(AuthChallenge.parse(""), [])
        XCTAssertEqual(AuthChallenge.parse("   ,, ,"), [])
        XCTAssertEqual(AuthChallenge.parse("=== @@@"), [])
        XCTAssertEqual(AuthChallenge.parse(#""just a string""#), [])
    }

    func testGarbageDoesNotHideTheRest() {
        let challenges = AuthChallenge.parse(#"Bearer realm="https://x/token" junk!@, service="s""#)
        XCTAssertEqual(challenges.count, 1)
        XCTAssertEqual(challenges[0].realm, "https://x/token")
        XCTAssertEqual(challenges[0].parameters["service"], "s")
    }

    func testUnterminatedQuote() {
        let challenges = AuthChallenge.parse(#"Bearer realm="https://x/token, service=s"#)
        XCTAssertEqual(challenges.count, 1)
        XCTAssertEqual(challenges[0].realm, "https://x/token, service=s")
    }
}

import Foundation
import HTTPTypes
import XCTest

/// Bad input and bad credentials: each gets its 4xx with a problem body, and nothing is written.
/// The API alone decides these, so they run against the router in process, not a node.
final class InputAndAuthTests: XCTestCase {
    /// A registry with a port, so that "host:port/repo" without a tag is told from "repo:tag".
    static let registry = "127.0.0.1:5000"

    func testBadInputsAreRefusedAndWriteNothing() async throws {
        let api = try await InProcessAPI()
        let token = try await api.token("alice")
        let image = "\(Self.registry)/berth/never-pulled:1"
        let good: [String: Any] = ["name": "good", "image": image]
        let taken = try await api.send(.post, "/v1/containers", token: token, json: good)
        XCTAssertEqual(taken.status, 201, taken.text)
        let count = try api.database.containerCount()

        func bad(_ overrides: [String: Any], field: String, file: StaticString = #filePath, line: UInt = #line) async throws {
            var body = good
            body["name"] = "other"
            for (key, value) in overrides { body[key] = value }
            let reply = try await api.send(.post, "/v1/containers", token: token, json: body)
            XCTAssertEqual(reply.status, 400, "\(overrides): \(reply.text)", file: file, line: line)
            XCTAssertEqual(reply.headers[.contentType], "application/problem+json", file: file, line: line)
            let errors = try reply.json()["errors"] as? [[String: Any]] ?? []
            XCTAssertTrue(errors.contains { ($0["field"] as? String)?.hasPrefix(field) ?? false }, "\(errors)", file: file, line: line)
            try OpenAPIChecks.shared.check(reply, path: "/v1/containers", method: "POST", file: file, line: line)
        }
        try await bad(["image": "\(Self.registry)/berth/no-tag"], field: "image")
        try await bad(["image": "Not A Reference"], field: "image")
        try await bad(["cpu": -1], field: "cpu")
        try await bad(["cpu": 0], field: "cpu")
        try await bad(["cpu": 100_000], field: "cpu")
        try await bad(["cpu": "one"], field: "cpu")
        try await bad(["ram": "12 apples"], field: "ram")
        try await bad(["ram": "1m"], field: "ram")
        try await bad(["ram": "-5Mi"], field: "ram")
        try await bad(["ephemeralStorage": "lots"], field: "ephemeralStorage")
        try await bad(["gpu": 1.5], field: "gpu")
        try await bad(["gpu": -1], field: "gpu")
        try await bad(["port": 0], field: "port")
        try await bad(["port": "70000"], field: "port")
        try await bad(["env": ["1BAD": "x"]], field: "env.1BAD")
        try await bad(["env": ["GOOD": "nul\u{0}byte"]], field: "env.GOOD")
        try await bad(["env": ["PORT": "9"]], field: "env.PORT")
        try await bad(["env": ["N": 5]], field: "env.N")
        try await bad(["name": "Has_Capitals"], field: "name")
        try await bad(["name": String(repeating: "a", count: 64)], field: "name")
        try await bad(["unknownField": true], field: "unknownField")
        var missing = good
        missing.removeValue(forKey: "image")
        missing["name"] = "other"
        let noImage = try await api.send(.post, "/v1/containers", token: token, json: missing)
        XCTAssertEqual(noImage.status, 400)

        let conflict = try await api.send(.post, "/v1/containers", token: token, json: good)
        XCTAssertEqual(conflict.status, 409)
        let wrongType = try await api.send(.post, "/v1/containers", token: token, body: Data("name=x".utf8),
                                           contentType: "application/x-www-form-urlencoded")
        XCTAssertEqual(wrongType.status, 415)
        let huge = try await api.send(.post, "/v1/containers", token: token,
                                      json: ["name": "big", "image": image, "env": ["X": String(repeating: "y", count: 2 << 20)]])
        XCTAssertEqual(huge.status, 413)
        let notJSON = try await api.send(.post, "/v1/containers", token: token, body: Data("{".utf8))
        XCTAssertEqual(notJSON.status, 400)
        for path in ["/v1/containers/not-a-uuid", "/v1/containers/\(UUID().uuidString)"] {
            let reply = try await api.send(.get, path, token: token)
            XCTAssertEqual(reply.status, 404, path)
            try OpenAPIChecks.shared.check(reply, path: "/v1/containers/{id}", method: "GET")
        }
        let id = try XCTUnwrap(try taken.json()["id"] as? String)
        let rename = try await api.send(.put, "/v1/containers/\(id)", token: token, json: ["name": "renamed"])
        XCTAssertEqual(rename.status, 400)
        let badPut = try await api.send(.put, "/v1/containers/\(id)", token: token, json: ["cpu": -2])
        XCTAssertEqual(badPut.status, 400)

        XCTAssertEqual(try api.database.containerCount(), count, "refused requests wrote nothing")
        XCTAssertEqual(try api.database.revisions(containerID: id).count, 1)
        XCTAssertEqual(api.backend.appliedIDs, [id], "refused requests asked the node for nothing")
    }

    func testTheAuthenticationMatrix() async throws {
        let api = try await InProcessAPI(audience: "berth-test")
        let valid = try await api.token("alice")

        func status(_ authorization: String?) async throws -> Int {
            try await api.send(.get, "/v1/containers", authorization: authorization).status
        }
        let noHeader = try await status(nil)
        XCTAssertEqual(noHeader, 401)
        let basic = try await status("Basic YWxpY2U6c2VjcmV0")
        XCTAssertEqual(basic, 401)
        let garbage = try await status("Bearer not.a.jwt")
        XCTAssertEqual(garbage, 401)
        let validToken = try await status("Bearer \(valid)")
        XCTAssertEqual(validToken, 200)

        // Bad signature: the same claims signed with another secret.
        let parts = valid.split(separator: ".")
        let badSignature = try await status("Bearer \(parts[0]).\(parts[1]).\(String(repeating: "A", count: 43))")
        XCTAssertEqual(badSignature, 401)
        // alg: none.
        func base64url(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let exp = Int(Date().timeIntervalSince1970) + 600
        let unsigned = base64url(#"{"alg":"none","typ":"JWT"}"#) + "." + base64url(#"{"sub":"alice","exp":\#(exp),"aud":"berth-test"}"#) + "."
        let algNone = try await status("Bearer \(unsigned)")
        XCTAssertEqual(algNone, 401)
        // Expired, and wrong audience.
        let expired = try await api.token("alice", ttl: .seconds(-3600))
        let expiredToken = try await status("Bearer \(expired)")
        XCTAssertEqual(expiredToken, 401)
        let elsewhere = try await api.token("alice", audience: "another-service")
        let wrongAudience = try await status("Bearer \(elsewhere)")
        XCTAssertEqual(wrongAudience, 401)

        let reply = try await api.send(.get, "/v1/containers", authorization: "Bearer \(expired)")
        XCTAssertTrue(reply.headers[.wwwAuthenticate]?.hasPrefix("Bearer") ?? false)
        XCTAssertEqual(try reply.json()["status"] as? Int, 401)
        try OpenAPIChecks.shared.check(reply, path: "/v1/containers", method: "GET")
    }
}

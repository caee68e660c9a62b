import XCTest

/// Names are hostnames beside ids: a name must never be able to take an id's traffic.
final class NameRuleTests: XCTestCase {
    func testAUUIDShapedNameIsRefusedAndNothingIsWritten() async throws {
        let api = try await InProcessAPI()
        let token = try await api.token("alice")
        let created = try await api.request(.post, "/v1/containers", token: token,
                                            json: ["name": "first", "image": "registry.test/app:1"])
        XCTAssertEqual(created.status, 201, "\(created.body)")
        let id = try XCTUnwrap(created.body["id"] as? String)

        for name in [id, "0e6f2c1a-9b7d-4c3e-8f21-5a6b7c8d9e0f", "abcdef01-2345-6789-abcd-ef0123456789"] {
            let reply = try await api.request(.post, "/v1/containers", token: token,
                                              json: ["name": name, "image": "registry.test/app:1"])
            XCTAssertEqual(reply.status, 400, name)
            XCTAssertEqual(reply.headers[.contentType], "application/problem+json")
            let errors = reply.body["errors"] as? [[String: Any]] ?? []
            XCTAssertEqual(errors.first?["field"] as? String, "name", "\(reply.body)")
        }
        XCTAssertEqual(try api.database.containerCount(), 1)
        XCTAssertEqual(api.backend.appliedIDs, [id])
    }

    func testNamesThatOnlyLookLikeIdsInPartAreAccepted() async throws {
        let api = try await InProcessAPI()
        let token = try await api.token("alice")
        // One hex digit short, a non-hex letter, dashes elsewhere: ordinary DNS labels.
        for name in ["abcdef01-2345-6789-abcd-ef012345678", "abcdef01-2345-6789-abcd-ef012345678g",
                     "abcdef0123-45-6789-abcd-ef0123456789"] {
            let reply = try await api.request(.post, "/v1/containers", token: token,
                                              json: ["name": name, "image": "registry.test/app:1"])
            XCTAssertEqual(reply.status, 201, "\(name): \(reply.body)")
        }
    }
}

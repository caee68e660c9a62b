import Foundation
import HTTPTypes
import XCTest

/// Who may see and change a container (its owner or an ADMIN), and the endpoints beside the
/// containers: rules the API alone decides, checked against the router in process.
final class AccessAndSystemEndpointTests: XCTestCase {
    func testOnlyTheOwnerOrAnAdminSeesOrChangesAContainer() async throws {
        let api = try await InProcessAPI()
        let alice = try await api.token("alice")
        let created = try await api.send(.post, "/v1/containers", token: alice, json: ["name": "hello-world", "image": "registry.test/app:1"])
        XCTAssertEqual(created.status, 201, created.text)
        let id = try XCTUnwrap(try created.json()["id"] as? String)

        // List: the caller's own only; ADMIN may see all.
        let bob = try await api.token("bob")
        let bobsList = try await api.send(.get, "/v1/containers", token: bob)
        XCTAssertEqual(bobsList.status, 200)
        XCTAssertEqual((try bobsList.json()["containers"] as? [Any])?.count, 0)
        let alicesList = try await api.send(.get, "/v1/containers", token: alice)
        XCTAssertEqual((try alicesList.json()["containers"] as? [[String: Any]])?.map { $0["id"] as? String }, [id])
        try OpenAPIChecks.shared.check(alicesList, path: "/v1/containers", method: "GET")
        let forbiddenAll = try await api.send(.get, "/v1/containers?all=true", token: bob)
        XCTAssertEqual(forbiddenAll.status, 403)
        try OpenAPIChecks.shared.check(forbiddenAll, path: "/v1/containers", method: "GET")
        let admin = try await api.token("root", roles: ["ADMIN"])
        let all = try await api.send(.get, "/v1/containers?all=true", token: admin)
        XCTAssertEqual((try all.json()["containers"] as? [Any])?.count, 1)

        // Another user's container: 403 for everything; ADMIN: allowed.
        for (method, path, documented) in [(HTTPRequest.Method.get, "/v1/containers/\(id)", "/v1/containers/{id}"),
                                           (.get, "/v1/containers/\(id)/revisions", "/v1/containers/{id}/revisions"),
                                           (.delete, "/v1/containers/\(id)", "/v1/containers/{id}"),
                                           (.get, "/v1/containers/\(id)/logs", "/v1/containers/{id}/logs")] {
            let reply = try await api.send(method, path, token: bob)
            XCTAssertEqual(reply.status, 403, "\(method) \(path)")
            XCTAssertEqual(reply.headers[.contentType], "application/problem+json")
            try OpenAPIChecks.shared.check(reply, path: documented, method: method.rawValue)
        }
        let bobPut = try await api.send(.put, "/v1/containers/\(id)", token: bob, json: ["env": [:] as [String: String]])
        XCTAssertEqual(bobPut.status, 403)
        let adminGet = try await api.send(.get, "/v1/containers/\(id)", token: admin)
        XCTAssertEqual(adminGet.status, 200)

        // bob's refused DELETE and PUT changed nothing.
        XCTAssertEqual(try api.database.container(id: id)?.latestRevision, 1)
        XCTAssertEqual(api.backend.appliedIDs, [id])
    }

    func testSystemEndpointsAndGPUModels() async throws {
        let api = try await InProcessAPI()
        let token = try await api.token("alice")
        let healthz = try await api.send(.get, "/healthz")
        XCTAssertEqual(healthz.status, 200)
        try OpenAPIChecks.shared.check(healthz, path: "/healthz", method: "GET")
        let readyz = try await api.send(.get, "/readyz").status
        XCTAssertEqual(readyz, 200)
        api.backend.setReady(false)
        let recovering = try await api.send(.get, "/readyz")
        XCTAssertEqual(recovering.status, 503, "not ready while the node recovers")
        try OpenAPIChecks.shared.check(recovering, path: "/readyz", method: "GET")
        api.backend.setReady(true)

        let models = try await api.send(.get, "/v1/gpu-models", token: token)
        XCTAssertEqual(models.status, 200)
        XCTAssertEqual((try models.json()["gpuModels"] as? [Any])?.count, 0)
        try OpenAPIChecks.shared.check(models, path: "/v1/gpu-models", method: "GET")
        let anonymousModels = try await api.send(.get, "/v1/gpu-models").status
        XCTAssertEqual(anonymousModels, 401)
        let metrics = try await api.send(.get, "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.text.contains("berth_containers{status=\"running\"}"), metrics.text)
        XCTAssertTrue(metrics.text.contains("berth_api_request_duration_seconds_bucket"), metrics.text)
        try OpenAPIChecks.shared.check(metrics, path: "/metrics", method: "GET")
        let document = try await api.send(.get, "/openapi.json")
        XCTAssertEqual(document.status, 200)
        XCTAssertEqual(try document.json()["openapi"] as? String, "3.1.0")
        try OpenAPIChecks.shared.check(document, path: "/openapi.json", method: "GET")
        let unknown = try await api.send(.get, "/v1/nothing-here", token: token)
        XCTAssertEqual(unknown.status, 404)
    }

    /// An undeclared method on a known path is 405 with the methods it answers in `Allow`.
    func testAnUndeclaredMethodOnAKnownPathIs405WithAllow() async throws {
        let api = try await InProcessAPI()
        let token = try await api.token("alice")
        let id = UUID().uuidString.lowercased()
        for (method, path, allow) in [(HTTPRequest.Method.patch, "/v1/containers", "GET, POST"),
                                      (.delete, "/v1/containers", "GET, POST"),
                                      (.post, "/v1/containers/\(id)", "DELETE, GET, PUT"),
                                      (.patch, "/v1/containers/\(id)", "DELETE, GET, PUT"),
                                      (.post, "/healthz", "GET"), (.put, "/openapi.json", "GET")] {
            let reply = try await api.send(method, path, token: token)
            XCTAssertEqual(reply.status, 405, "\(method) \(path)")
            XCTAssertEqual(reply.headers[.allow], allow, "\(method) \(path)")
            XCTAssertEqual(reply.headers[.contentType], "application/problem+json")
        }
        XCTAssertEqual(api.backend.appliedIDs, [], "nothing was asked of the node")
    }
}

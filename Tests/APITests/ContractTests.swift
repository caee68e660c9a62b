import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// A container's whole life through the API, end to end against a real node. What the API alone
/// decides (validation, credentials, who may see what, the system endpoints) is checked in
/// process: InputAndAuthTests, AccessAndSystemEndpointTests, CapacityAPITests.
final class ContractTests: XCTestCase {
    func testTheContainerLifecycleThroughTheAPI() async throws {
        let f = try NodeFixture()
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let alice = try await f.token("alice")
        let image = try await f.pushHTTPD("berth/api-hello")

        // POST: 201 at once, pending, Location, defaults applied.
        let created = try await f.request("POST", "/v1/containers", token: alice, json: [
            "name": "hello-world", "image": image, "cpu": 0.5, "ram": "64Mi", "env": ["FOO": "bar"],
        ])
        XCTAssertEqual(created.status, 201, created.text)
        let container = try created.json()
        let id = try XCTUnwrap(container["id"] as? String)
        XCTAssertEqual(created.headers["location"], "/v1/containers/\(id)")
        XCTAssertNotNil(created.headers["x-request-id"])
        XCTAssertEqual(container["status"] as? String, "pending")
        XCTAssertEqual(container["owner"] as? String, "alice")
        XCTAssertEqual(container["port"] as? String, "8080")
        XCTAssertEqual(container["ephemeralStorage"] as? String, "1Gi")
        XCTAssertEqual(container["revision"] as? Int, 1)
        XCTAssertEqual(container["url"] as? String, "http://hello-world.localhost:\(f.configuration.proxyListen.port)")
        try OpenAPIChecks.shared.check(created, path: "/v1/containers", method: "POST")

        let running = try await f.waitFor(id, token: alice) { $0["status"] as? String == "running" }
        XCTAssertNil(running["statusMessage"] as? String)
        let got = try await f.request("GET", "/v1/containers/\(id)", token: alice)
        XCTAssertEqual(got.status, 200)
        try OpenAPIChecks.shared.check(got, path: "/v1/containers/{id}", method: "GET")

        // The caller's own list; who else may see it (ADMIN, not bob) is AccessAndSystemEndpointTests'.
        let alicesList = try await f.request("GET", "/v1/containers", token: alice)
        XCTAssertEqual((try alicesList.json()["containers"] as? [[String: Any]])?.map { $0["id"] as? String }, [id])
        try OpenAPIChecks.shared.check(alicesList, path: "/v1/containers", method: "GET")

        // The node's own GPU inventory: none on the test host.
        let models = try await f.request("GET", "/v1/gpu-models", token: alice)
        XCTAssertEqual(models.status, 200)
        XCTAssertEqual((try models.json()["gpuModels"] as? [Any])?.count, 0)
        try OpenAPIChecks.shared.check(models, path: "/v1/gpu-models", method: "GET")

        // PUT: a new revision, merged; it rolls out and becomes active.
        let put = try await f.request("PUT", "/v1/containers/\(id)", token: alice, json: ["env": ["FOO": "updated-bar"]])
        XCTAssertEqual(put.status, 200, put.text)
        XCTAssertEqual(try put.json()["revision"] as? Int, 2)
        XCTAssertEqual((try put.json()["env"] as? [String: String]), ["FOO": "updated-bar"])
        XCTAssertEqual(try put.json()["cpu"] as? Double, 0.5, "fields absent keep their value")
        try OpenAPIChecks.shared.check(put, path: "/v1/containers/{id}", method: "PUT")
        try await f.waitFor(id, token: alice) { $0["revision"] as? Int == 2 && $0["status"] as? String == "running" }
        let revisions = try await f.request("GET", "/v1/containers/\(id)/revisions", token: alice)
        XCTAssertEqual(revisions.status, 200)
        let list = try XCTUnwrap(try revisions.json()["revisions"] as? [[String: Any]])
        XCTAssertEqual(list.map { $0["revision"] as? Int }, [2, 1], "newest first")
        XCTAssertEqual(list.map { $0["status"] as? String }, ["active", "retired"])
        XCTAssertTrue((list[0]["imageDigest"] as? String)?.hasPrefix("sha256:") ?? false)
        try OpenAPIChecks.shared.check(revisions, path: "/v1/containers/{id}/revisions", method: "GET")

        // Logs of the serving revision.
        let logs = try await f.request("GET", "/v1/containers/\(id)/logs?tail=10", token: alice)
        XCTAssertEqual(logs.status, 200)
        XCTAssertTrue(logs.headers["content-type"]?.hasPrefix("text/plain") ?? false)

        // DELETE: 204 and gone.
        let deleted = try await f.request("DELETE", "/v1/containers/\(id)", token: alice)
        XCTAssertEqual(deleted.status, 204)
        XCTAssertTrue(deleted.body.isEmpty)
        let gone = try await f.request("GET", "/v1/containers/\(id)", token: alice)
        XCTAssertEqual(gone.status, 404)
        let deletedAgain = try await f.request("DELETE", "/v1/containers/\(id)", token: alice)
        XCTAssertEqual(deletedAgain.status, 404)
        // The teardown runs in the background, and leaves nothing.
        try await f.waitUntilDeleted(id)
        XCTAssertEqual(try f.containerdContainers(), [], "no containerd container left")
    }
}

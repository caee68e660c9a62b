import API
import BerthModel
import Foundation
import XCTest

/// The scaling fields on create and update: defaults applied once, bounds, `keepWarm` as the
/// older spelling of `minInstances`, the node-fit rule, and the instances endpoint.
final class ScalingFieldsTests: XCTestCase {
    static let image = "127.0.0.1:5000/berth/never-pulled:1"

    func testDefaultsAreAppliedOnceAtCreateAndKeptByAnUpdate() async throws {
        let api = try await InProcessAPI()
        let token = try await api.token("alice")
        let created = try await api.send(.post, "/v1/containers", token: token, json: ["name": "web", "image": Self.image, "cpu": 0.25])
        XCTAssertEqual(created.status, 201, created.text)
        try OpenAPIChecks.shared.check(created, path: "/v1/containers", method: "POST")
        let body = try created.json()
        XCTAssertEqual(body["concurrency"] as? Int, 0)
        XCTAssertEqual(body["minInstances"] as? Int, 0)
        XCTAssertEqual(body["maxInstances"] as? Int, 1)
        XCTAssertEqual(body["timeoutSeconds"] as? Int, 300)
        XCTAssertEqual(body["keepWarm"] as? Bool, false)
        XCTAssertEqual(body["instances"] as? [String: Int], ["desired": 0, "ready": 0, "starting": 0])
        let id = try XCTUnwrap(body["id"] as? String)

        let updated = try await api.send(.put, "/v1/containers/\(id)", token: token,
                                         json: ["concurrency": 4, "maxInstances": 3, "timeoutSeconds": 20])
        XCTAssertEqual(updated.status, 200, updated.text)
        try OpenAPIChecks.shared.check(updated, path: "/v1/containers/{id}", method: "PUT")
        let redeployed = try await api.send(.put, "/v1/containers/\(id)", token: token, json: ["image": Self.image])
        let spec = try XCTUnwrap(try api.database.revision(containerID: id, number: 3)?.spec.scaling)
        XCTAssertEqual(spec, ScalingPolicy(concurrency: 4, minInstances: 0, maxInstances: 3, timeoutSeconds: 20),
                       "fields absent keep the latest recorded values: \(redeployed.text)")
        let revisions = try await api.send(.get, "/v1/containers/\(id)/revisions", token: token)
        try OpenAPIChecks.shared.check(revisions, path: "/v1/containers/{id}/revisions", method: "GET")
    }

    func testKeepWarmIsMinInstancesOne() async throws {
        let api = try await InProcessAPI()
        let token = try await api.token("alice")
        let warm = try await api.send(.post, "/v1/containers", token: token, json: ["name": "warm", "image": Self.image, "cpu": 0.25, "keepWarm": true])
        XCTAssertEqual(try warm.json()["minInstances"] as? Int, 1)
        XCTAssertEqual(try warm.json()["keepWarm"] as? Bool, true)
        let id = try XCTUnwrap(try warm.json()["id"] as? String)
        let more = try await api.send(.put, "/v1/containers/\(id)", token: token, json: ["minInstances": 3])
        XCTAssertEqual(more.status, 200, more.text)
        XCTAssertEqual(try more.json()["maxInstances"] as? Int, 3, "a minimum above the maximum raises the maximum")
        let stillWarm = try await api.send(.put, "/v1/containers/\(id)", token: token, json: ["keepWarm": true])
        XCTAssertEqual(try stillWarm.json()["minInstances"] as? Int, 3, "keepWarm true keeps a larger minimum")
        let cold = try await api.send(.put, "/v1/containers/\(id)", token: token, json: ["keepWarm": false])
        XCTAssertEqual(try cold.json()["minInstances"] as? Int, 0)
        XCTAssertEqual(try cold.json()["keepWarm"] as? Bool, false)
    }

    func testBadScalingFieldsAreRefusedAndWriteNothing() async throws {
        let api = try await InProcessAPI(configuration: APIConfiguration(domain: "localhost", proxyPort: 8081, maxCPU: 4,
                                                                         maxMemoryBytes: 8 << 30))
        let token = try await api.token("alice")
        func refused(_ fields: [String: Any], _ field: String, _ message: String? = nil,
                     file: StaticString = #filePath, line: UInt = #line) async throws {
            var body: [String: Any] = ["name": "web", "image": Self.image]
            body.merge(fields) { $1 }
            let reply = try await api.send(.post, "/v1/containers", token: token, json: body)
            XCTAssertEqual(reply.status, 400, "\(fields): \(reply.text)", file: file, line: line)
            let errors = try reply.json()["errors"] as? [[String: Any]] ?? []
            let hit = errors.first { $0["field"] as? String == field }
            XCTAssertNotNil(hit, "\(fields): \(errors)", file: file, line: line)
            if let message { XCTAssertEqual(hit?["message"] as? String, message, file: file, line: line) }
            try OpenAPIChecks.shared.check(reply, path: "/v1/containers", method: "POST", file: file, line: line)
        }
        try await refused(["concurrency": -1], "concurrency")
        try await refused(["concurrency": 1.5], "concurrency")
        try await refused(["concurrency": 1001], "concurrency")
        try await refused(["concurrency": "4"], "concurrency")
        try await refused(["minInstances": -1], "minInstances")
        try await refused(["maxInstances": 0], "maxInstances")
        try await refused(["maxInstances": 101], "maxInstances")
        try await refused(["timeoutSeconds": 0], "timeoutSeconds")
        try await refused(["timeoutSeconds": 3601], "timeoutSeconds")
        try await refused(["minInstances": 3, "maxInstances": 2], "minInstances", "must not exceed maxInstances (2)")
        try await refused(["keepWarm": true, "minInstances": 0], "keepWarm")
        try await refused(["cpu": 1, "maxInstances": 5], "maxInstances",
                          "5 instances of 1 cpu and 512Mi ram do not fit this node: at most 4")
        try await refused(["cpu": 1.5, "maxInstances": 3], "maxInstances",
                          "3 instances of 1.5 cpu and 512Mi ram do not fit this node: at most 2")
        XCTAssertEqual(try api.database.containerCount(), 0)
    }

    func testTheInstancesEndpointListsWhatTheBackendRunsForTheOwnerOnly() async throws {
        let api = try await InProcessAPI()
        let alice = try await api.token("alice")
        let created = try await api.send(.post, "/v1/containers", token: alice,
                                         json: ["name": "web", "image": Self.image, "maxInstances": 2])
        let id = try XCTUnwrap(try created.json()["id"] as? String)
        let container = try XCTUnwrap(try api.database.container(id: id))
        api.backend.setInstances(ContainerInstances(desired: 2, list: [
            InstanceReport(revision: 1, instance: 0, status: "running", since: Date(timeIntervalSince1970: 1_750_000_000), inFlight: 1),
            InstanceReport(revision: 1, instance: 1, status: "starting", since: nil, inFlight: 0),
        ]), of: container.id)
        let listed = try await api.send(.get, "/v1/containers/\(id)/instances", token: alice)
        XCTAssertEqual(listed.status, 200, listed.text)
        try OpenAPIChecks.shared.check(listed, path: "/v1/containers/{id}/instances", method: "GET")
        let instances = try XCTUnwrap(try listed.json()["instances"] as? [[String: Any]])
        XCTAssertEqual(instances.map { $0["instance"] as? Int }, [0, 1])
        XCTAssertEqual(instances.first?["since"] as? String, "2025-06-15T15:06:40.000Z")
        XCTAssertEqual(instances.first?["inFlight"] as? Int, 1)
        let got = try await api.send(.get, "/v1/containers/\(id)", token: alice)
        XCTAssertEqual(try got.json()["instances"] as? [String: Int], ["desired": 2, "ready": 1, "starting": 1])
        // The list is not served stale from its cache once instances change.
        let list = try await api.send(.get, "/v1/containers", token: alice)
        let first = try XCTUnwrap((try list.json()["containers"] as? [[String: Any]])?.first)
        XCTAssertEqual(first["instances"] as? [String: Int], ["desired": 2, "ready": 1, "starting": 1])

        let bob = try await api.token("bob")
        let other = try await api.send(.get, "/v1/containers/\(id)/instances", token: bob)
        XCTAssertEqual(other.status, 403)
        let admin = try await api.token("root", roles: ["ADMIN"])
        let asAdmin = try await api.send(.get, "/v1/containers/\(id)/instances", token: admin)
        XCTAssertEqual(asAdmin.status, 200)
        let missing = try await api.send(.get, "/v1/containers/\(UUID().uuidString.lowercased())/instances", token: alice)
        XCTAssertEqual(missing.status, 404)
        let wrongMethod = try await api.send(.post, "/v1/containers/\(id)/instances", token: alice, json: [:])
        XCTAssertEqual(wrongMethod.status, 405)
        XCTAssertEqual(wrongMethod.headers[.allow], "GET")
    }
}

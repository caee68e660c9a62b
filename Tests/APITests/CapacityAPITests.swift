import Foundation
import Hummingbird
import Store
import XCTest

/// The node's capacity and owners' quotas as the API reports them: 409 problems that say what
/// is free, and nothing recorded.
final class CapacityAPITests: XCTestCase {
    func testOverTheNodesCapacityIs409CapacityAndWritesNothing() async throws {
        let api = try await InProcessAPI()
        api.database.setCapacityPolicy(CapacityPolicy(node: ResourceLimits(cpu: 2, ram: 1 << 30, ephemeralStorage: 10 << 30)))
        let alice = try await api.token("alice")
        let bob = try await api.token("bob")
        let first = try await api.request(.post, "/v1/containers", token: alice,
                                          json: ["name": "one", "image": "registry.test/app:1", "ram": "256Mi"])
        XCTAssertEqual(first.status, 201, "\(first.body)")
        let id = try XCTUnwrap(first.body["id"] as? String)
        let second = try await api.request(.post, "/v1/containers", token: bob,
                                           json: ["name": "two", "image": "registry.test/app:1", "cpu": 0.5, "ram": "256Mi"])
        XCTAssertEqual(second.status, 201, "\(second.body)")

        // POST: 1 core (the default) asked, half of one left.
        let refused = try await api.request(.post, "/v1/containers", token: bob,
                                            json: ["name": "three", "image": "registry.test/app:1", "ram": "128Mi"])
        XCTAssertEqual(refused.status, 409)
        XCTAssertEqual(refused.headers[.contentType], "application/problem+json")
        XCTAssertEqual(refused.body["type"] as? String, "https://berth.dev/problems/capacity")
        XCTAssertEqual(refused.body["status"] as? Int, 409)
        XCTAssertEqual(refused.body["detail"] as? String, "not enough capacity on this node: cpu: asked 1, 0.5 of 2 available")
        XCTAssertNotNil(refused.body["requestId"] as? String)
        try OpenAPIChecks.shared.check(refused, path: "/v1/containers", method: "POST")

        // PUT raising ram past what is free: the container's own 256Mi counts as its own.
        let put = try await api.request(.put, "/v1/containers/\(id)", token: alice, json: ["ram": "1Gi"])
        XCTAssertEqual(put.status, 409)
        XCTAssertEqual(put.body["type"] as? String, "https://berth.dev/problems/capacity")
        XCTAssertEqual(put.body["detail"] as? String, "not enough capacity on this node: ram: asked 1Gi, 768Mi of 1Gi available")
        try OpenAPIChecks.shared.check(put, path: "/v1/containers/{id}", method: "PUT")

        // Nothing written: the lists, the revisions and the backend saw only the two creates.
        let admin = try await api.token("root", roles: ["ADMIN"])
        let all = try await api.request(.get, "/v1/containers?all=true", token: admin)
        XCTAssertEqual((all.body["containers"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["one", "two"])
        let revisions = try await api.request(.get, "/v1/containers/\(id)/revisions", token: alice)
        XCTAssertEqual((revisions.body["revisions"] as? [[String: Any]])?.count, 1)
        let got = try await api.request(.get, "/v1/containers/\(id)", token: alice)
        XCTAssertEqual(got.body["ram"] as? String, "256Mi")
        XCTAssertEqual(api.backend.appliedIDs.count, 2)

        // An update that grows nothing still passes on the full node.
        let env = try await api.request(.put, "/v1/containers/\(id)", token: alice, json: ["env": ["A": "1"]])
        XCTAssertEqual(env.status, 200, "\(env.body)")
        XCTAssertEqual(env.body["revision"] as? Int, 2)
    }

    func testOverTheOwnersQuotaIs409QuotaNamingTheLimit() async throws {
        let api = try await InProcessAPI()
        api.database.setCapacityPolicy(CapacityPolicy(defaultQuota: ResourceLimits(ram: 512 << 20),
                                                      ownerQuotas: ["bob": ResourceLimits(ram: 2 << 30)]))
        let alice = try await api.token("alice")
        let first = try await api.request(.post, "/v1/containers", token: alice,
                                          json: ["name": "a1", "image": "registry.test/app:1", "ram": "384Mi"])
        XCTAssertEqual(first.status, 201, "\(first.body)")
        let over = try await api.request(.post, "/v1/containers", token: alice,
                                         json: ["name": "a2", "image": "registry.test/app:1", "ram": "256Mi"])
        XCTAssertEqual(over.status, 409)
        XCTAssertEqual(over.body["type"] as? String, "https://berth.dev/problems/quota")
        XCTAssertEqual(over.body["title"] as? String, "Over the owner's quota")
        XCTAssertEqual(over.body["detail"] as? String, "over the quota of alice: ram: asked 256Mi, 128Mi of 512Mi available")
        try OpenAPIChecks.shared.check(over, path: "/v1/containers", method: "POST")
        XCTAssertEqual(try api.database.containerCount(), 1)

        // bob's own quota replaces the default's.
        let bob = try await api.token("bob")
        let big = try await api.request(.post, "/v1/containers", token: bob, json: ["name": "b1", "image": "registry.test/app:1", "ram": "1Gi"])
        XCTAssertEqual(big.status, 201, "\(big.body)")
    }
}

import Foundation
import NodeTestSupport
import TestSupport
import XCTest

final class RolloutTests: XCTestCase {
    /// A revision that cannot become ready never takes over: the old one keeps serving and the
    /// container says why.
    func testAFailedRevisionLeavesTheOldOneServing() async throws {
        let f = try NodeFixture()
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let token = try await f.token("alice")
        let image = try await f.pushHTTPD("berth/api-rollout", page: "v1\n")
        let created = try await f.request("POST", "/v1/containers", token: token, json: ["name": "steady", "image": image, "ram": "64Mi"])
        let id = try XCTUnwrap(try created.json()["id"] as? String)
        try await f.waitFor(id, token: token) { $0["status"] as? String == "running" }

        let crashing = TestImage(layers: [.busybox()], cmd: ["sh", "-c", "echo cannot start >&2; exit 7"])
        let bad = try await TestRegistry.push(crashing, to: f.env.registry, repository: "berth/api-crash", tag: "1").reference
        let put = try await f.request("PUT", "/v1/containers/\(id)", token: token, json: ["image": bad])
        XCTAssertEqual(put.status, 200)
        let settled = try await f.waitFor(id, token: token) { ($0["statusMessage"] as? String)?.contains("revision 2 failed") ?? false }
        XCTAssertEqual(settled["status"] as? String, "running")
        XCTAssertEqual(settled["revision"] as? Int, 1)
        XCTAssertEqual(settled["image"] as? String, image)
        let revisions = try await f.request("GET", "/v1/containers/\(id)/revisions", token: token)
        let list = try XCTUnwrap(try revisions.json()["revisions"] as? [[String: Any]])
        XCTAssertEqual(list.map { $0["status"] as? String }, ["failed", "active"])
        XCTAssertTrue((list[0]["statusMessage"] as? String)?.contains("exited with code 7") ?? false, "\(list[0])")

        // A missing tag fails the same way, at the pull.
        let missing = try await f.request("PUT", "/v1/containers/\(id)", token: token, json: ["image": "\(f.env.registry)/berth/api-rollout:404"])
        XCTAssertEqual(missing.status, 200)
        try await f.waitFor(id, token: token) { ($0["statusMessage"] as? String)?.contains("revision 3 failed") ?? false }

        // And a good revision after them rolls out.
        let v2 = try await f.pushHTTPD("berth/api-rollout", page: "v2\n", tag: "2")
        _ = try await f.request("PUT", "/v1/containers/\(id)", token: token, json: ["image": v2])
        let rolled = try await f.waitFor(id, token: token) { $0["revision"] as? Int == 4 && $0["status"] as? String == "running" }
        XCTAssertNil(rolled["statusMessage"] as? String)
        // The old revision goes right after the promotion.
        var containers: [String] = []
        for _ in 0..<100 {
            containers = try runCommand("/usr/bin/ctr", ["--address", f.env.containerdSocket, "-n", f.configuration.namespace, "containers", "ls", "-q"])
                .split(separator: "\n").map(String.init)
            if containers == ["\(id)-r4"] { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertEqual(containers, ["\(id)-r4"], "only the serving revision runs")
    }
}

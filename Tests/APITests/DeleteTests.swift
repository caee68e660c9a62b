import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// DELETE on a real node: answered at once while the teardown (SIGTERM, the grace period,
/// SIGKILL: busybox httpd ignores SIGTERM) runs in the background, for many containers at once.
final class DeleteTests: XCTestCase {
    func testDeletesAnswerAtOnceAndTearDownConcurrently() async throws {
        let grace = Duration.seconds(4)
        let f = try NodeFixture { $0.stopGracePeriod = grace }
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let token = try await f.token("alice")
        let image = try await f.pushHTTPD("berth/api-delete")
        var ids: [String] = []
        for n in 0..<4 {
            ids.append(try await f.deploy(["name": "del-\(n)", "image": image, "ram": "32Mi", "cpu": 0.1], token: token))
        }

        let started = ContinuousClock.now
        var latencies: [Duration] = []
        for id in ids {
            let asked = ContinuousClock.now
            let deleted = try await f.request("DELETE", "/v1/containers/\(id)", token: token)
            latencies.append(ContinuousClock.now - asked)
            XCTAssertEqual(deleted.status, 204)
            let get = try await f.request("GET", "/v1/containers/\(id)", token: token).status
            XCTAssertEqual(get, 404, "gone from the API at once")
        }
        XCTAssertLessThan(latencies.max()!, .seconds(1), "DELETE latencies: \(latencies)")
        // The name is free at once, while the old container is still being torn down.
        let reused = try await f.request("POST", "/v1/containers", token: token, json: ["name": "del-0", "image": image, "ram": "32Mi", "cpu": 0.1])
        XCTAssertEqual(reused.status, 201, reused.text)

        for id in ids { try await f.waitUntilDeleted(id, timeout: .seconds(30)) }
        let all = ContinuousClock.now - started
        // One after another they would take 4 × the grace period.
        XCTAssertLessThan(all, grace * 3, "all four were torn down in \(all)")
        let left = try f.containerdContainers()
        XCTAssertEqual(left.count, 1, "only the new del-0 is left: \(left)")
    }

    func testConcurrentUpdatesOnANodeAllLand() async throws {
        let f = try NodeFixture()
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let token = try await f.token("alice")
        let image = try await f.pushHTTPD("berth/api-concurrent-put")
        let id = try await f.deploy(["name": "puts", "image": image, "ram": "32Mi", "cpu": 0.1], token: token)
        let changes: [[String: Any]] = [["cpu": 0.2], ["ram": "48Mi"], ["env": ["MODE": "fast"]], ["ephemeralStorage": "512Mi"]]
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for change in try changes.map({ try JSONSerialization.data(withJSONObject: $0) }) {
                group.addTask {
                    let change = try JSONSerialization.jsonObject(with: change) as! [String: Any]
                    return try await f.request("PUT", "/v1/containers/\(id)", token: token, json: change).status
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(statuses, [200, 200, 200, 200])
        let settled = try await f.waitFor(id, token: token) { $0["revision"] as? Int == 5 && $0["status"] as? String == "running" }
        XCTAssertEqual(settled["cpu"] as? Double, 0.2)
        XCTAssertEqual(settled["ram"] as? String, "48Mi")
        XCTAssertEqual(settled["env"] as? [String: String], ["MODE": "fast"])
        XCTAssertEqual(settled["ephemeralStorage"] as? String, "512Mi", "no PUT was lost: \(settled)")
    }
}

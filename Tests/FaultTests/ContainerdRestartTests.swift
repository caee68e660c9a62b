import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// containerd restarted in the middle of a rollout (a private one: the shared test containerd
/// serves every other test): the rollout completes, the old revision goes, nothing leaks.
final class ContainerdRestartTests: XCTestCase {
    func testContainerdRestartMidRolloutCompletesTheRollout() async throws {
        let env = try TestEnvironment.current()
        let folder = try env.makeTemporaryDirectory("fault-ctrd")
        // 0711, as scripts/test.sh's folder: runc as a user namespace's mapped root passes through
        // to the rootfs below the state folder.
        chmod(folder, 0o711)
        let containerd = try ContainerdProcess(directory: folder)
        try await containerd.start()
        defer { containerd.cleanup() }
        let f = try NodeFixture { $0.containerdSocket = containerd.socket }
        let berthd = try BerthdProcess(f, extraArguments: ["--idle-pause-after", "0s", "--idle-stop-after", "0s",
                                                          "--stop-grace-period", "500ms", "--readiness-timeout", "30s"])
        let token = try await f.token("fault", roles: ["ADMIN"])
        try await berthd.start()
        do {
            try await rollOutAcrossRestart(berthd, containerd: containerd, token: token)
        } catch {
            await berthd.tearDown(token: token)
            throw error
        }
        await berthd.tearDown(token: token)
    }

    private func rollOutAcrossRestart(_ berthd: BerthdProcess, containerd: ContainerdProcess, token: String) async throws {
        let f = berthd.fixture
        let v1 = try await f.pushHTTPD("berth/fault-ctrd-v1", page: "v1\n")
        // Takes two seconds to listen: containerd restarts while the new revision starts.
        let slow = TestImage(layers: [.busybox(extraFiles: ["/www/index.html": "v2\n"])],
                             cmd: ["sh", "-c", "sleep 2; exec httpd -f -p $PORT -h /www"])
        let v2 = try await TestRegistry.push(slow, to: f.env.registry, repository: "berth/fault-ctrd-v2", tag: "1").reference
        let id = try await f.deploy(["name": "ctrd-restart", "image": v1, "ram": "32Mi", "ephemeralStorage": "64Mi"], token: token)
        _ = try await berthd.awaitServing(id, name: "ctrd-restart", page: "v1\n", revision: 1, token: token)
        let before = try await HostInventory.take(berthd.scope(knownIDs: [id], containerdState: containerd.state))

        let put = try await f.request("PUT", "/v1/containers/\(id)", token: token, json: ["image": v2])
        XCTAssertEqual(put.status, 200, put.text)
        try await Task.sleep(for: .milliseconds(1200))
        try await containerd.restart()

        let record = try await berthd.awaitServing(id, name: "ctrd-restart", page: "v2\n", revision: 2, token: token, timeout: .seconds(60))
        XCTAssertEqual(record["image"] as? String, v2)
        let revisions = try await f.request("GET", "/v1/containers/\(id)/revisions", token: token).json()["revisions"] as? [[String: Any]] ?? []
        XCTAssertEqual(revisions.map { $0["status"] as? String }, ["active", "retired"])

        // Only revision 2's objects; the node's own ones as before, but for the new image (its
        // content and snapshots stay cached; the revisions' view snapshots are checked by id).
        let check = try await InventoryCheck.awaitClean(berthd, live: [id: 2], knownIDs: [id], baseline: before,
                                                        ignoring: ["ctr.images", "ctr.content", "ctr.snapshots"], containerdState: containerd.state)
        XCTAssertTrue(check.isClean, "after the rollout across a containerd restart:\n\(check)")
        let images = check.inventory.listings["ctr.images"] ?? []
        XCTAssertEqual(images, [v1, v2].sorted())

        let deleted = try await f.request("DELETE", "/v1/containers/\(id)", token: token)
        XCTAssertEqual(deleted.status, 204)
        try await berthd.awaitGone(id, token: token)
        let after = try await InventoryCheck.awaitClean(berthd, live: [:], knownIDs: [id], baseline: before,
                                                        ignoring: ["ctr.images", "ctr.content", "ctr.snapshots"], containerdState: containerd.state)
        XCTAssertTrue(after.isClean, "after deleting the container:\n\(after)")
    }
}

import Daemon
import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// A second berthd on the same containerd namespace: what it may and may not touch.
final class OwnershipTests: XCTestCase {
    func ctr(_ f: NodeFixture, _ arguments: [String]) throws -> String {
        try runCommand("/usr/bin/ctr", ["--address", f.env.containerdSocket, "-n", f.configuration.namespace] + arguments)
    }

    func labels(_ f: NodeFixture, _ arguments: [String]) throws -> [String: String] {
        let json = try JSONSerialization.jsonObject(with: Data(try ctr(f, arguments).utf8)) as? [String: Any]
        return json?["Labels"] as? [String: String] ?? [:]
    }

    func testAnEmptyDatabaseOnAnotherNodesNamespaceRefusesAndLeavesItsContainersRunningUntilPurged() async throws {
        let first = try NodeFixture()
        try await first.start()
        var firstStopped = false
        defer { if !firstStopped { Task { [first] in try? await first.stop() } } }
        let token = try await first.token("alice")
        let image = try await first.pushHTTPD("berth/ownership", page: "mine\n")
        let id = try await first.deploy(["name": "owned", "image": image, "ram": "64Mi"], token: token)
        let runtimeID = "\(id)-r1"
        let identity = try XCTUnwrap(first.node).database.nodeIdentity

        // Everything the first node made carries its identity.
        XCTAssertEqual(try labels(first, ["containers", "info", runtimeID])["berth.node"], identity)
        XCTAssertEqual(try labels(first, ["snapshots", "info", "berth-view-\(runtimeID)"])["berth.node"], identity)
        XCTAssertTrue(try ctr(first, ["images", "ls"]).contains("berth.node=\(identity)"))
        let record = first.configuration.dataDirectory + "/cni/results/\(runtimeID).json"
        let attachment = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: record))) as? [String: Any]
        XCTAssertEqual(attachment?["node"] as? String, identity)

        // The same data folder: the lock answers at once.
        do {
            _ = try await Node(configuration: first.configuration)
            XCTFail("a second node on the same data folder started")
        } catch {
            XCTAssertTrue("\(error)".hasPrefix("another berthd (pid \(getpid())) holds \(first.configuration.dataDirectory)/berthd.lock"),
                          "\(error)")
        }

        // An empty data folder on the same namespace: one line, and nothing touched.
        let namespace = first.configuration.namespace
        // The view, and the image's remapped snapshot when containers run in a user namespace.
        let snapshots = try ctr(first, ["snapshots", "ls"]).split(separator: "\n")
            .filter { $0.hasPrefix("berth-view-") || $0.hasPrefix("berth-remap") }.count
        XCTAssertGreaterThanOrEqual(snapshots, 1)
        let objects = 1 + snapshots + 1
        let second = try NodeFixture { $0.namespace = namespace }
        do {
            _ = try await Node(configuration: second.configuration)
            XCTFail("a node with an empty database started on another node's namespace")
        } catch {
            let message = "\(error)"
            XCTAssertFalse(message.contains("\n"), message)
            XCTAssertTrue(message.hasPrefix("containerd namespace \"\(namespace)\" holds \(objects) Berth objects of another node "
                                            + "(1 container, \(snapshots) snapshot\(snapshots == 1 ? "" : "s"), 1 image; node \(identity))"),
                          message)
            XCTAssertTrue(message.contains("--namespace") && message.contains("--purge-foreign"), message)
        }
        let served = try await first.invoke("owned.localhost")
        XCTAssertEqual(served.text, "mine\n", "the first node's container still serves")
        XCTAssertTrue(try ctr(first, ["tasks", "ls"]).contains("RUNNING"))
        let status = try await first.request("GET", "/v1/containers/\(id)", token: token).json()
        XCTAssertEqual(status["status"] as? String, "running")

        // The first node dies (its container keeps running); a purge removes what it left.
        try await first.stop(cleanUp: false)
        firstStopped = true
        XCTAssertEqual(try ctr(first, ["containers", "ls", "-q"]), "\(runtimeID)\n")
        let purging = try NodeFixture {
            $0.namespace = namespace
            $0.purgeForeign = true
        }
        try await purging.start()
        addTeardownBlock { [purging] in try? await purging.stop() }
        XCTAssertEqual(try ctr(first, ["containers", "ls", "-q"]), "")
        XCTAssertEqual(try ctr(first, ["tasks", "ls", "-q"]), "")
        let left = try ctr(first, ["snapshots", "ls"])
        // A remapped image snapshot may be left to containerd's garbage collector (it goes with the image).
        XCTAssertFalse(left.contains("berth-view-"), left)
        XCTAssertFalse(try ctr(first, ["images", "ls"]).contains("berth.node=\(identity)"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/run/netns/berth-\(runtimeID)"), "its network namespace went too")
        let purgingIdentity = try XCTUnwrap(purging.node).database.nodeIdentity
        XCTAssertNotEqual(purgingIdentity, identity)
    }
}

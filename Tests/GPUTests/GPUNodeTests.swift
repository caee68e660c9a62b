import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// GPUs through the API on a node whose host root is the fake tree (two H200, two A100): models
/// and free counts, whole-GPU allocation with the devices in the container's spec, exhaustion
/// refused with nothing created, the stop-then-start rollout, allocations kept across a
/// restart and freed on delete.
final class GPUNodeTests: XCTestCase {
    func models(_ f: NodeFixture, _ token: String) async throws -> [String: [String: Any]] {
        let reply = try await f.request("GET", "/v1/gpu-models", token: token)
        XCTAssertEqual(reply.status, 200)
        let list = try XCTUnwrap(try reply.json()["gpuModels"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: list.map { ($0["model"] as! String, $0) })
    }

    func available(_ f: NodeFixture, _ token: String) async throws -> [String: Int] {
        try await models(f, token).mapValues { $0["available"] as! Int }
    }

    /// The GPU device nodes (195:N) in the containerd spec of one instance of a revision.
    func deviceMinors(_ f: NodeFixture, id: String, revision: Int, instance: Int = 0) throws -> [Int] {
        let info = try runCommand("/usr/bin/ctr", ["--address", f.env.containerdSocket, "-n", f.configuration.namespace,
                                                   "containers", "info", "\(id)-r\(revision)" + (instance > 0 ? "-i\(instance)" : "")])
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(info.utf8)) as? [String: Any])
        let spec = try XCTUnwrap(object["Spec"] as? [String: Any])
        let devices = try XCTUnwrap((spec["linux"] as? [String: Any])?["devices"] as? [[String: Any]])
        return devices.filter { ($0["path"] as? String)?.range(of: #"^/dev/nvidia[0-9]+$"#, options: .regularExpression) != nil }
            .compactMap { $0["minor"] as? Int }.sorted()
    }

    /// `gpu: 1` on a node with user namespaces on: the container runs in the range, its node is
    /// the host's bound (runc cannot mknod there), not a `linux.devices` entry, and it is allowed
    /// in the device cgroup.
    func testAGPUContainerInAUserNamespace() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        let base: UInt32 = 0x7400_0000
        let f = try NodeFixture {
            $0.gpuHostRoot = tree.root
            $0.userNamespaces = .on
            $0.usernsBase = base
        }
        GPUContainerTests.makeTraversable(f.env.containerdSocket, tree.root)
        try await f.start()
        let token = try await f.token("gpu-userns")
        let image = try await f.pushHTTPD("berth/gpu-userns")
        let id = try await f.deploy(["name": "remapped", "image": image, "ram": "64Mi", "gpu": 1,
                                     "gpuModel": "NVIDIA H200"], token: token)
        let spec = try containerSpec(f, id: id, revision: 1)
        let linux = try XCTUnwrap(spec["linux"] as? [String: Any])
        let uidMappings = try XCTUnwrap(linux["uidMappings"] as? [[String: Any]])
        XCTAssertEqual(uidMappings.first?["hostID"] as? Int, Int(base), "\(uidMappings)")
        let devices = linux["devices"] as? [[String: Any]] ?? []
        XCTAssertFalse(devices.contains { ($0["path"] as? String)?.hasPrefix("/dev/nvidia") == true }, "\(devices)")
        let mounts = try XCTUnwrap(spec["mounts"] as? [[String: Any]])
        let gpuNodes = mounts.filter { ($0["destination"] as? String)?.range(of: #"^/dev/nvidia[0-9]+$"#, options: .regularExpression) != nil }
        XCTAssertEqual(gpuNodes.count, 1, "\(mounts)")
        let node = try XCTUnwrap(gpuNodes.first)
        let destination = try XCTUnwrap(node["destination"] as? String)
        XCTAssertEqual(node["source"] as? String, tree.path(destination))
        XCTAssertEqual(node["options"] as? [String], ["bind", "nosuid", "noexec"])
        let rules = try XCTUnwrap((linux["resources"] as? [String: Any])?["devices"] as? [[String: Any]])
        let minor = Int(destination.dropFirst("/dev/nvidia".count))
        XCTAssertTrue(rules.contains { $0["allow"] as? Bool == true && $0["major"] as? Int == 195 && $0["minor"] as? Int == minor },
                      "\(rules)")
        let deleted = try await f.request("DELETE", "/v1/containers/\(id)", token: token)
        XCTAssertEqual(deleted.status, 204)
        try await f.stop()
    }

    /// A node on the fake tree without user namespaces: its GPUs are `linux.devices` entries.
    static func nodeOnTree(_ tree: FakeGPUTree) throws -> NodeFixture {
        try NodeFixture {
            $0.gpuHostRoot = tree.root
            $0.userNamespaces = .off
        }
    }

    func containerSpec(_ f: NodeFixture, id: String, revision: Int) throws -> [String: Any] {
        let info = try runCommand("/usr/bin/ctr", ["--address", f.env.containerdSocket, "-n", f.configuration.namespace,
                                                   "containers", "info", "\(id)-r\(revision)"])
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(info.utf8)) as? [String: Any])
        return try XCTUnwrap(object["Spec"] as? [String: Any])
    }

    func testAllocationExhaustionRecreateRestartAndDelete() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        // Allocation is what this test is about; it reads the devices from `linux.devices`, which
        // is where they are without a user namespace (testAGPUContainerInAUserNamespace covers
        // the bound nodes).
        let f = try Self.nodeOnTree(tree)
        try await f.start()
        let token = try await f.token("gpu-user")
        let a100 = "NVIDIA A100-SXM4-80GB", h200 = "NVIDIA H200"

        let before = try await models(f, token)
        XCTAssertEqual(before[a100]?["count"] as? Int, 2)
        XCTAssertEqual(before[a100]?["memory"] as? String, "80Gi")
        let free1 = try await available(f, token)
        XCTAssertEqual(free1, [a100: 2, h200: 2])

        let image = try await f.pushHTTPD("berth/gpu-node")
        let id = try await f.deploy(["name": "trainer", "image": image, "ram": "64Mi", "gpu": 2, "gpuModel": a100], token: token)
        XCTAssertEqual(try deviceMinors(f, id: id, revision: 1), [2, 3], "its two A100s and no other GPU")
        let free2 = try await available(f, token)
        XCTAssertEqual(free2, [a100: 0, h200: 2])

        // Exhaustion and unknown models: a clear 4xx, and nothing is created.
        let more = try await f.request("POST", "/v1/containers", token: token,
                                       json: ["name": "more", "image": image, "gpu": 1, "gpuModel": a100])
        XCTAssertEqual(more.status, 409, more.text)
        XCTAssertTrue(more.text.contains("0 free"), more.text)
        let three = try await f.request("POST", "/v1/containers", token: token, json: ["name": "three", "image": image, "gpu": 3])
        XCTAssertEqual(three.status, 409, three.text)
        let unknown = try await f.request("POST", "/v1/containers", token: token,
                                          json: ["name": "tesla", "image": image, "gpu": 1, "gpuModel": "Tesla K80"])
        XCTAssertEqual(unknown.status, 400, unknown.text)
        let list = try await f.request("GET", "/v1/containers", token: token).json()["containers"] as? [[String: Any]]
        XCTAssertEqual(list?.map { $0["name"] as? String }, ["trainer"])
        let free3 = try await available(f, token)
        XCTAssertEqual(free3, [a100: 0, h200: 2])

        // No room for a second pair of A100s: the update stops revision 1, then starts revision 2
        // on the same devices.
        let put = try await f.request("PUT", "/v1/containers/\(id)", token: token, json: ["env": ["V": "2"]])
        XCTAssertEqual(put.status, 200, put.text)
        try await f.waitFor(id, token: token) { $0["revision"] as? Int == 2 && $0["status"] as? String == "running" }
        XCTAssertEqual(try deviceMinors(f, id: id, revision: 2), [2, 3])
        let free4 = try await available(f, token)
        XCTAssertEqual(free4, [a100: 0, h200: 2])
        let revisions = try await f.request("GET", "/v1/containers/\(id)/revisions", token: token).json()["revisions"] as? [[String: Any]]
        XCTAssertEqual(revisions?.map { $0["status"] as? String }, ["active", "retired"])

        // Allocations are in the database: a restarted node still counts them.
        try await f.stop(cleanUp: false)
        try await f.start()
        let free5 = try await available(f, token)
        XCTAssertEqual(free5, [a100: 0, h200: 2])

        let deleted = try await f.request("DELETE", "/v1/containers/\(id)", token: token)
        XCTAssertEqual(deleted.status, 204)
        // Released once its tasks are gone, in the background.
        try await f.waitUntilDeleted(id)
        let free6 = try await available(f, token)
        XCTAssertEqual(free6, [a100: 2, h200: 2])
        try await f.stop()
    }

    /// `gpu: 1, maxInstances: 3` on two H200s: load makes the autoscaler ask for three; two run,
    /// each with one H200 of its own, and the status says why the third waits.
    func testEachInstanceHasItsOwnGPUsAndOneThatFindsNoneWaits() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        let f = try Self.nodeOnTree(tree)
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let token = try await f.token("gpu-scale")
        let id = try await f.deploy(["name": "llm", "image": try await f.pushWorkCGI("berth/gpu-scale"), "ram": "64Mi",
                                     "gpu": 1, "gpuModel": "NVIDIA H200", "concurrency": 1, "maxInstances": 3], token: token)
        // Three slow requests at concurrency 1: two wait, and the queue asks for two more instances.
        async let answers = withTaskGroup(of: Int.self) { group in
            for _ in 0..<3 {
                group.addTask { (try? await f.invoke("llm.localhost", "/cgi-bin/work?6000000"))?.status ?? -1 }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let waiting = try await f.waitFor(id, token: token, timeout: .seconds(60)) {
            ($0["instances"] as? [String: Int])?["ready"] == 2
                && ($0["statusMessage"] as? String)?.contains("wait for free GPUs") == true
        }
        XCTAssertEqual(waiting["statusMessage"] as? String, "1 of 3 instances wait for free GPUs (1 each)")
        let first = try deviceMinors(f, id: id, revision: 1)
        let second = try deviceMinors(f, id: id, revision: 1, instance: 1)
        XCTAssertEqual(first.count, 1, "\(first)")
        XCTAssertEqual(second.count, 1, "\(second)")
        XCTAssertNotEqual(first, second, "each instance sees only its own GPU")
        let free = try await available(f, token)
        XCTAssertEqual(free["NVIDIA H200"], 0)
        let statuses = await answers
        XCTAssertEqual(statuses.sorted(), [200, 200, 200])
    }
}

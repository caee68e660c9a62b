import Daemon
import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// berthd killed with SIGKILL in the middle of a rollout, then started again: the rollout
/// completes and nothing is lost.
final class CrashRecoveryTests: XCTestCase {
    static var berthd: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("berthd").path
    }

    func launch(_ f: NodeFixture, port: Int) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.berthd)
        let c = f.configuration
        process.arguments = ["serve", "--containerd-socket", c.containerdSocket, "--namespace", c.namespace,
                             "--data-dir", c.dataDirectory, "--jwt-secret-file", f.secretFile,
                             "--api-listen", "127.0.0.1:\(port)", "--proxy-listen", "127.0.0.1:\(try NodeFixture.freePort())",
                             "--cni-bridge", c.cniBridge, "--cni-subnet", c.cniSubnet, "--insecure-registry", f.env.registry]
        let log = FileHandle(forWritingAtPath: c.dataDirectory + "/berthd.log") ?? {
            FileManager.default.createFile(atPath: c.dataDirectory + "/berthd.log", contents: nil)
            return FileHandle(forWritingAtPath: c.dataDirectory + "/berthd.log")!
        }()
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        return process
    }

    func testKilledMidRolloutAndRestartedEndsConsistent() async throws {
        let f = try NodeFixture()
        let port = try NodeFixture.freePort()
        f.setPort(port)
        var berthd = try launch(f, port: port)
        defer { if berthd.isRunning { kill(berthd.processIdentifier, SIGKILL) } }
        try await f.waitUntilReady()
        let token = try await f.token("alice")
        let image = try await f.pushHTTPD("berth/api-crash-v1", page: "v1\n")
        let created = try await f.request("POST", "/v1/containers", token: token, json: ["name": "phoenix", "image": image, "ram": "64Mi"])
        let id = try XCTUnwrap(try created.json()["id"] as? String)
        try await f.waitFor(id, token: token) { $0["status"] as? String == "running" }

        // A revision that takes a while to listen, so berthd dies while it is rolling out.
        let slow = TestImage(layers: [.busybox(extraFiles: ["/www/index.html": "v2\n"])],
                             cmd: ["sh", "-c", "sleep 2; exec httpd -f -p $PORT -h /www"])
        let v2 = try await TestRegistry.push(slow, to: f.env.registry, repository: "berth/api-crash-v2", tag: "1").reference
        let put = try await f.request("PUT", "/v1/containers/\(id)", token: token, json: ["image": v2])
        XCTAssertEqual(put.status, 200)
        try await Task.sleep(for: .milliseconds(700))
        kill(berthd.processIdentifier, SIGKILL)
        berthd.waitUntilExit()

        berthd = try launch(f, port: port)
        try await f.waitUntilReady()
        let settled = try await f.waitFor(id, token: token, timeout: .seconds(90)) {
            $0["revision"] as? Int == 2 && $0["status"] as? String == "running"
        }
        XCTAssertEqual(settled["image"] as? String, v2)
        let revisionsReply = try await f.request("GET", "/v1/containers/\(id)/revisions", token: token)
        let revisions = try XCTUnwrap(try revisionsReply.json()["revisions"] as? [[String: Any]])
        XCTAssertEqual(revisions.map { $0["status"] as? String }, ["active", "retired"])
        var containers: [String] = []
        for _ in 0..<100 {
            containers = try runCommand("/usr/bin/ctr", ["--address", f.env.containerdSocket, "-n", f.configuration.namespace, "containers", "ls", "-q"])
                .split(separator: "\n").map(String.init)
            if containers == ["\(id)-r2"] { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertEqual(containers, ["\(id)-r2"])

        let deleted = try await f.request("DELETE", "/v1/containers/\(id)", token: token)
        XCTAssertEqual(deleted.status, 204)
        try await f.waitUntilDeleted(id)
        kill(berthd.processIdentifier, SIGTERM)
        berthd.waitUntilExit()
        XCTAssertEqual(berthd.terminationStatus, 0, "SIGTERM is a clean stop")
        _ = try? runCommand("/sbin/ip", ["link", "delete", f.configuration.cniBridge])
        try? await Node.removeNetworkPolicy(bridge: f.configuration.cniBridge)
    }
}

extension NodeFixture {
    func setPort(_ port: Int) {
        setPortForExternalNode(port)
    }

    func waitUntilReady() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if (try? await request("GET", "/readyz").status) == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestSupportError("berthd did not become ready")
    }
}

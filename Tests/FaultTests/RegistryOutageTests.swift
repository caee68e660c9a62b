import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// The registry killed in the middle of a pull (a private docker-registry: the shared ones serve
/// other tests), then started again on the same port and storage: the container converges
/// without another request, and no ingest or lease of the broken pull is left.
final class RegistryOutageTests: XCTestCase {
    /// docker-registry on 127.0.0.1:port with storage under `folder`, like scripts/test-env.sh's.
    final class PrivateRegistry: @unchecked Sendable {
        let folder: String
        let port: Int
        private var process: Process?

        var address: String { "127.0.0.1:\(port)" }

        init(folder: String) throws {
            self.folder = folder
            port = try NodeFixture.freePort()
            try FileManager.default.createDirectory(atPath: folder + "/storage", withIntermediateDirectories: true)
            let config = """
                version: 0.1
                log:
                  level: warn
                storage:
                  filesystem:
                    rootdirectory: \(folder)/storage
                  maintenance:
                    uploadpurging:
                      enabled: false
                http:
                  addr: 127.0.0.1:\(port)
                  secret: fault-tests

                """
            try Data(config.utf8).write(to: URL(fileURLWithPath: folder + "/config.yml"))
        }

        func start() async throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try locate("docker-registry"))
            process.arguments = ["serve", folder + "/config.yml"]
            FileManager.default.createFile(atPath: folder + "/registry.log", contents: nil)
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: folder + "/registry.log"))
            process.standardOutput = log
            process.standardError = log
            try process.run()
            self.process = process
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                if (try? runCommand("curl", ["-s", "-o", "/dev/null", "http://\(address)/v2/"])) != nil { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw TestSupportError("the private registry did not answer on \(address)")
        }

        func kill() {
            guard let process, process.isRunning else { return }
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        private func locate(_ name: String) throws -> String {
            for folder in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] where FileManager.default.isExecutableFile(atPath: "\(folder)/\(name)") {
                return "\(folder)/\(name)"
            }
            throw TestSupportError("\(name) not found; scripts/test.sh installs docker-registry")
        }

        deinit { kill() }
    }

    func testRegistryKilledMidPullConvergesOnceItIsBack() async throws {
        let env = try TestEnvironment.current()
        let registry = try PrivateRegistry(folder: try env.makeTemporaryDirectory("fault-registry"))
        try await registry.start()
        defer { registry.kill() }
        let f = try NodeFixture()
        let berthd = try BerthdProcess(f, extraArguments: ["--idle-pause-after", "0s", "--idle-stop-after", "0s",
                                                          "--stop-grace-period", "500ms", "--insecure-registry", registry.address])
        let token = try await f.token("fault", roles: ["ADMIN"])
        try await berthd.start()
        do {
            try await pullAcrossOutage(berthd, registry: registry, token: token)
        } catch {
            await berthd.tearDown(token: token)
            throw error
        }
        await berthd.tearDown(token: token)
    }

    private func pullAcrossOutage(_ berthd: BerthdProcess, registry: PrivateRegistry, token: String) async throws {
        let f = berthd.fixture
        // A big incompressible layer, uncompressed: the pull lasts long enough to be cut.
        let image = TestImage(layers: [.busybox(extraFiles: ["/www/index.html": "pulled\n"]),
                                       .random(bytes: 96 << 20, seed: 7).compressed(.none)],
                              cmd: ["sh", "-c", "exec httpd -f -p $PORT -h /www"])
        let pushed = try await TestRegistry.push(image, to: registry.address, repository: "berth/fault-pull", tag: "1")
        let before = try await HostInventory.take(berthd.scope(knownIDs: []))

        let created = try await f.request("POST", "/v1/containers", token: token,
                                          json: ["name": "outage", "image": pushed.reference, "ram": "32Mi", "ephemeralStorage": "256Mi"])
        XCTAssertEqual(created.status, 201, created.text)
        let id = try XCTUnwrap(try created.json()["id"] as? String)
        // Kill the registry as soon as containerd holds an ingest of the pull.
        let ctr = ["--address", f.configuration.containerdSocket, "-n", f.configuration.namespace]
        let deadline = ContinuousClock.now + .seconds(20)
        var cut = false
        while ContinuousClock.now < deadline {
            let active = (try? runCommand("ctr", ctr + ["content", "active"])) ?? ""
            if active.split(separator: "\n").count > 1 { cut = true; break }
            try await Task.sleep(for: .milliseconds(10))
        }
        registry.kill()
        XCTAssertTrue(cut, "the pull was seen in flight before the registry was killed")
        try await Task.sleep(for: .seconds(3))
        let (_, during) = try await berthd.container(id, token: token)
        XCTAssertNotEqual(during["status"] as? String, "running", "running without its image: \(during)")

        try await registry.start()
        // No new request: the node retries the pull by itself.
        let record = try await berthd.awaitServing(id, name: "outage", page: "pulled\n", revision: 1, token: token, timeout: .seconds(90))
        XCTAssertEqual(record["status"] as? String, "running")

        let deleted = try await f.request("DELETE", "/v1/containers/\(id)", token: token)
        XCTAssertEqual(deleted.status, 204)
        try await berthd.awaitGone(id, token: token)
        // The image stays cached (its content and snapshots) and the bridge exists now; the
        // container's own objects are checked by id, leases and ingests in full.
        let check = try await InventoryCheck.awaitClean(berthd, live: [:], knownIDs: [id], baseline: before,
                                                        ignoring: ["ctr.images", "ctr.content", "ctr.snapshots", "bridge"])
        XCTAssertTrue(check.isClean, "after the container is deleted:\n\(check)")
        XCTAssertEqual(check.inventory.listings["ctr.ingests"], [], "no ingest of the cut pull is left")
        XCTAssertEqual(check.inventory.listings["ctr.images"], [pushed.reference])
    }
}

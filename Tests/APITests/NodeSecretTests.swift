import Daemon
import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// Secrets on a real node: the value reaches the container as env and as a 0400 file on a
/// tmpfs, and nowhere else Berth writes or answers; a new value rolls the container.
final class NodeSecretTests: XCTestCase {
    let checks = OpenAPIChecks.shared

    func testASecretReachesItsContainerAndNoResponseLogOrDatabaseFile() async throws {
        let f = try NodeFixture()
        try await f.start()
        addTeardownBlock { [f] in try? await f.stop() }
        let token = try await f.token("alice")
        let value = "hf_" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let created = try await f.request("POST", "/v1/secrets", token: token, json: ["name": "hf", "value": value])
        XCTAssertEqual(created.status, 201, created.text)

        let script = #"""
            mkdir -p /www/out; printf %s "$HF_TOKEN" > /www/out/env; cat /run/secrets/hf > /www/out/file
            stat -c '%a %u' /run/secrets/hf > /www/out/mode; grep ' /run/secrets/hf ' /proc/mounts > /www/out/mounts
            echo started; exec httpd -f -p $PORT -h /www
            """#
        let image = TestImage(layers: [.busybox(extraFiles: ["/www/index.html": "up\n"])], cmd: ["sh", "-c", script])
        let reference = try await TestRegistry.push(image, to: f.env.registry, repository: "berth/secret-user", tag: "1").reference
        let id = try await f.deploy(["name": "llm", "image": reference, "ram": "64Mi",
                                     "env": ["HF_TOKEN": ["secret": "hf"]],
                                     "secretMounts": [["secret": "hf", "path": "/run/secrets/hf"]]], token: token)
        _ = try await f.waitFor(id, token: token) { $0["status"] as? String == "running" }
        let reply1 = try await f.invoke("llm.localhost", "/out/env")
        XCTAssertEqual(reply1.text, value)
        let reply2 = try await f.invoke("llm.localhost", "/out/file")
        XCTAssertEqual(reply2.text, value)
        let reply3 = try await f.invoke("llm.localhost", "/out/mode")
        XCTAssertEqual(reply3.text, "400 0\n", "0400, the container's root's")
        let mounts = try await f.invoke("llm.localhost", "/out/mounts").text
        XCTAssertTrue(mounts.contains(" ro,") && mounts.contains("nosuid") && mounts.contains("nodev") && mounts.contains("noexec"), mounts)

        // Nowhere the API answers, nowhere berthd writes in the clear.
        let admin = try await f.token("root", roles: ["ADMIN"])
        var answers: [String] = []
        for path in ["/v1/secrets/hf", "/v1/secrets", "/v1/containers/\(id)", "/v1/containers/\(id)/revisions", "/v1/containers/\(id)/logs"] {
            answers.append(try await f.request("GET", path, token: token).text)
        }
        answers.append(try await f.request("GET", "/v1/containers?all=true", token: admin).text)
        answers.append(try await f.request("GET", "/metrics").text)
        XCTAssertTrue(answers[4].contains("started"), "the logs were read: \(answers[4])")
        for answer in answers { XCTAssertFalse(answer.contains(value), answer) }
        let data = f.configuration.dataDirectory
        for file in ["berth.sqlite", "berth.sqlite-wal"] where FileManager.default.fileExists(atPath: data + "/" + file) {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: data + "/" + file))
            XCTAssertNil(bytes.range(of: Data(value.utf8)), "\(file) holds the value in the clear")
        }
        var key = stat()
        XCTAssertEqual(stat(data + "/secret.key", &key), 0)
        XCTAssertEqual(key.st_mode & 0o777, 0o600)

        // A new value: the container rolls to a revision that reads it.
        let rotated = "hf_rotated_" + UUID().uuidString.prefix(8)
        let put = try await f.request("PUT", "/v1/secrets/hf", token: token, json: ["value": rotated])
        XCTAssertEqual(put.status, 200, put.text)
        try checks.check(put, path: "/v1/secrets/{name}", method: "put")
        XCTAssertEqual(try put.json()["rolledContainers"] as? [String], [id])
        _ = try await f.waitFor(id, token: token) { $0["revision"] as? Int == 2 && $0["status"] as? String == "running" }
        let reply4 = try await f.invoke("llm.localhost", "/out/env")
        XCTAssertEqual(reply4.text, rotated)
        let reply5 = try await f.invoke("llm.localhost", "/out/file")
        XCTAssertEqual(reply5.text, rotated)

        // In use: it stays.
        let reply6 = try await f.request("DELETE", "/v1/secrets/hf", token: token)
        XCTAssertEqual(reply6.status, 409)
    }

    func testTheKeyFileIsMadeWhereConfiguredAndRefusedWhenOthersCanReadIt() async throws {
        let keys = try TestEnvironment.current().makeTemporaryDirectory("keys")
        let f = try NodeFixture { $0.secretKeyFile = keys + "/node.key" }
        try await f.start()
        try await f.stop()
        var info = stat()
        XCTAssertEqual(stat(keys + "/node.key", &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        XCTAssertEqual(info.st_size, 32)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.configuration.dataDirectory + "/secret.key"))

        chmod(keys + "/node.key", 0o640)
        do {
            _ = try await Node(configuration: f.configuration)
            XCTFail("a node started with a key others can read")
        } catch {
            XCTAssertFalse("\(error)".contains("\n"), "\(error)")
            XCTAssertTrue("\(error)".contains(keys + "/node.key"), "\(error)")
        }
    }
}

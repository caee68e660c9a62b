import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// Volumes on a real node: sized ext4 filesystems loop-mounted on the host, bound into
/// containers by runc, filled through the file API and kept across revisions and restarts.
final class NodeVolumeTests: XCTestCase {
    let checks = OpenAPIChecks.shared

    /// busybox httpd serving /www, after `prelude` ran (its output lands in /www/out).
    func pushImage(_ f: NodeFixture, _ repository: String, prelude: String) async throws -> String {
        let script = "mkdir -p /www/out; \(prelude); exec httpd -f -p $PORT -h /www"
        let image = TestImage(layers: [.busybox(extraFiles: ["/www/index.html": "up\n"])], cmd: ["sh", "-c", script])
        return try await TestRegistry.push(image, to: f.env.registry, repository: repository, tag: "1").reference
    }

    func running(_ f: NodeFixture, _ body: [String: Any], token: String) async throws -> String {
        let id = try await f.deploy(body, token: token)
        _ = try await f.waitFor(id, token: token) { $0["status"] as? String == "running" }
        return id
    }

    func delete(_ f: NodeFixture, _ id: String, token: String) async throws {
        let reply1 = try await f.request("DELETE", "/v1/containers/\(id)", token: token)
        XCTAssertEqual(reply1.status, 204)
        try await f.waitUntilDeleted(id)
    }

    func hostMount(_ path: String) throws -> String? {
        try readProcFile("/proc/self/mounts").split(separator: "\n")
            .first { $0.split(separator: " ").dropFirst().first.map(String.init) == path }.map(String.init)
    }

    func testAVolumeIsFilledOnceReadByManyWrittenByOneBoundedAndKept() async throws {
        let f = try NodeFixture()
        try await f.start()
        addTeardownBlock { [f] in try? await f.stop() }
        let token = try await f.token("alice")
        let created = try await f.request("POST", "/v1/volumes", token: token, json: ["name": "models", "size": "32Mi"])
        XCTAssertEqual(created.status, 201, created.text)
        try checks.check(created, path: "/v1/volumes", method: "post")
        let volumeID = try XCTUnwrap(f.node?.database.volume(owner: "alice", name: "models")?.id)
        let mountPoint = f.configuration.dataDirectory + "/volumes/\(volumeID)/fs"
        let hostLine = try XCTUnwrap(try hostMount(mountPoint), "the volume is mounted on the host")
        XCTAssertTrue(hostLine.contains("nosuid") && hostLine.contains("nodev"), hostLine)

        // Filled once, without a container.
        let weights = Data((0..<(3 << 20)).map { UInt8(truncatingIfNeeded: ($0 &* 7) ^ ($0 >> 9)) })
        let put = try await f.request("PUT", "/v1/volumes/models/files/qwen/model.bin", token: token, body: weights,
                                      contentType: "application/octet-stream")
        XCTAssertEqual(put.status, 201, put.text)
        try checks.check(put, path: "/v1/volumes/{name}/files/{path}", method: "put")

        // Two readers see the same bytes, read-only, nosuid, nodev.
        let readerImage = try await pushImage(f, "berth/volume-reader", prelude:
            "grep ' /www/models ' /proc/mounts > /www/out/mounts; touch /www/models/x 2> /www/out/touch; true")
        let mount: [[String: Any]] = [["name": "models", "mountPath": "/www/models", "readOnly": true]]
        let readers = [
            try await running(f, ["name": "reader-a", "image": readerImage, "ram": "64Mi", "volumes": mount], token: token),
            try await running(f, ["name": "reader-b", "image": readerImage, "ram": "64Mi", "volumes": mount], token: token),
        ]
        for name in ["reader-a", "reader-b"] {
            let served = try await f.invoke("\(name).localhost", "/models/qwen/model.bin")
            XCTAssertEqual(served.status, 200)
            XCTAssertTrue(served.body == weights, "\(name) reads what was uploaded")
            let mounts = try await f.invoke("\(name).localhost", "/out/mounts").text
            let options = mounts.split(separator: " ").dropFirst(3).first.map { $0.split(separator: ",").map(String.init) } ?? []
            XCTAssertTrue(options.contains("ro") && options.contains("nosuid") && options.contains("nodev"), mounts)
            let reply2 = try await f.invoke("\(name).localhost", "/out/touch")
            XCTAssertTrue(reply2.text.contains("Read-only file system"))
        }
        let viewed = try await f.request("GET", "/v1/volumes/models", token: token)
        try checks.check(viewed, path: "/v1/volumes/{name}", method: "get")
        XCTAssertEqual((try viewed.json()["mountedBy"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["reader-a", "reader-b"])
        XCTAssertGreaterThanOrEqual(try viewed.json()["usedBytes"] as? Int ?? 0, 3 << 20)

        // A writer while readers mount it: one writer or many readers.
        let writerImage = try await pushImage(f, "berth/volume-writer", prelude:
            "dd if=/dev/zero of=/data/fill bs=1M count=64 2> /www/out/dd; echo status=$? >> /www/out/dd; rm -f /data/fill; echo kept > /data/note")
        let writerBody: [String: Any] = ["name": "writer", "image": writerImage, "ram": "64Mi",
                                         "volumes": [["name": "models", "mountPath": "/data"]]]
        let refused = try await f.request("POST", "/v1/containers", token: token, json: writerBody)
        XCTAssertEqual(refused.status, 409, refused.text)
        let reply3 = try await f.request("DELETE", "/v1/volumes/models", token: token)
        XCTAssertEqual(reply3.status, 409, "in use")

        for id in readers { try await delete(f, id, token: token) }
        let writer = try await running(f, writerBody, token: token)
        // Writing past the size fails inside the container, and the host's disk is untouched.
        let dd = try await f.invoke("writer.localhost", "/out/dd").text
        XCTAssertTrue(dd.contains("No space left on device"), dd)
        XCTAssertFalse(dd.contains("status=0"), dd)
        var info = stat()
        XCTAssertEqual(stat(f.configuration.dataDirectory + "/volumes/\(volumeID)/volume.img", &info), 0)
        XCTAssertLessThanOrEqual(Int(info.st_blocks) * 512, 33 << 20, "the sparse image never grows past the size")
        let upload = try await f.request("PUT", "/v1/volumes/models/files/other", token: token, body: Data("x".utf8))
        XCTAssertEqual(upload.status, 409, "the writer owns the contents: \(upload.text)")

        // Kept across a restart of berthd and the writer's deletion.
        try await f.stop(cleanUp: false)
        try await f.start()
        try await delete(f, writer, token: token)
        let note = try await f.request("GET", "/v1/volumes/models/files/note", token: token)
        XCTAssertEqual(note.text, "kept\n")
        let again = try await f.request("GET", "/v1/volumes/models/files/qwen/model.bin", token: token)
        XCTAssertEqual(again.status, 200)
        XCTAssertTrue(again.body == weights)

        let deleted = try await f.request("DELETE", "/v1/volumes/models", token: token)
        XCTAssertEqual(deleted.status, 204, deleted.text)
        XCTAssertNil(try hostMount(mountPoint), "unmounted")
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.configuration.dataDirectory + "/volumes/\(volumeID)"))
    }

    func testAVolumeWhoseDeleteWasCutShortIsRemovedAtTheNextStart() async throws {
        let f = try NodeFixture()
        try await f.start()
        addTeardownBlock { [f] in try? await f.stop() }
        let token = try await f.token("alice")
        let reply4 = try await f.request("POST", "/v1/volumes", token: token, json: ["name": "gone", "size": "16Mi"])
        XCTAssertEqual(reply4.status, 201)
        let volume = try XCTUnwrap(f.node?.database.volume(owner: "alice", name: "gone"))
        // The record goes, the filesystem stays (as when berthd dies between the two).
        try f.node?.database.deleteVolume(volume)
        let folder = f.configuration.dataDirectory + "/volumes/\(volume.id)"
        XCTAssertNotNil(try hostMount(folder + "/fs"))
        // And a folder berthd did not make stays whatever its name.
        let foreign = f.configuration.dataDirectory + "/volumes/not-a-volume"
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        try await f.stop(cleanUp: false)
        try await f.start()
        XCTAssertNil(try hostMount(folder + "/fs"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder))
        XCTAssertTrue(FileManager.default.fileExists(atPath: foreign))
    }
}

import Foundation
import Hummingbird
import Store
import XCTest

/// The volume endpoints' own rules, in process: plain folders stand in for the sized
/// filesystems (RecordingBackend), so ownership, validation, the one-writer rule and the file
/// API's path rules are checked without a node. The sized filesystem itself is NodeVolumeTests'.
final class VolumeAPITests: XCTestCase {
    let checks = OpenAPIChecks.shared
    let image = "registry.test/app:1"

    func testCreateGetListAndDeleteAreTheOwnersAndMatchTheDocument() async throws {
        let api = try await InProcessAPI()
        let alice = try await api.token("alice")
        let bob = try await api.token("bob")
        let admin = try await api.token("root", roles: ["ADMIN"])

        let created = try await api.request(.post, "/v1/volumes", token: alice, json: ["name": "weights", "size": "1Gi"])
        XCTAssertEqual(created.status, 201, "\(created.body)")
        try checks.check(created, path: "/v1/volumes", method: "post")
        XCTAssertEqual(created.headers[.location], "/v1/volumes/weights")
        XCTAssertEqual(created.body["size"] as? String, "1Gi")
        XCTAssertEqual(created.body["sizeBytes"] as? Int, 1 << 30)
        XCTAssertEqual(created.body["owner"] as? String, "alice")
        XCTAssertEqual((created.body["mountedBy"] as? [Any])?.count, 0)

        // Names are per owner: bob has none of that name, and may make his own.
        let foreign = try await api.request(.get, "/v1/volumes/weights", token: bob)
        XCTAssertEqual(foreign.status, 404)
        try checks.check(foreign, path: "/v1/volumes/{name}", method: "get")
        let reply1 = try await api.request(.post, "/v1/volumes", token: bob, json: ["name": "weights", "size": "16Mi"])
        XCTAssertEqual(reply1.status, 201)
        let reach = try await api.request(.get, "/v1/volumes/weights?owner=alice", token: bob)
        XCTAssertEqual(reach.status, 403)
        try checks.check(reach, path: "/v1/volumes/{name}", method: "get")
        let asAdmin = try await api.request(.get, "/v1/volumes/weights?owner=alice", token: admin)
        XCTAssertEqual(asAdmin.status, 200)
        XCTAssertEqual(asAdmin.body["owner"] as? String, "alice")

        let duplicate = try await api.request(.post, "/v1/volumes", token: alice, json: ["name": "weights", "size": "2Gi"])
        XCTAssertEqual(duplicate.status, 409)
        try checks.check(duplicate, path: "/v1/volumes", method: "post")

        let list = try await api.request(.get, "/v1/volumes", token: alice)
        try checks.check(list, path: "/v1/volumes", method: "get")
        XCTAssertEqual((list.body["volumes"] as? [[String: Any]])?.map { $0["owner"] as? String }, ["alice"])
        let reply2 = try await api.request(.get, "/v1/volumes?all=true", token: alice)
        XCTAssertEqual(reply2.status, 403)
        let all = try await api.request(.get, "/v1/volumes?all=true", token: admin)
        XCTAssertEqual((all.body["volumes"] as? [Any])?.count, 2)

        let deleted = try await api.send(.delete, "/v1/volumes/weights", token: alice)
        XCTAssertEqual(deleted.status, 204)
        try checks.check(deleted, path: "/v1/volumes/{name}", method: "delete")
        let reply3 = try await api.request(.get, "/v1/volumes/weights", token: alice)
        XCTAssertEqual(reply3.status, 404)
        let reply4 = try await api.request(.get, "/v1/volumes/weights", token: bob)
        XCTAssertEqual(reply4.status, 200, "bob's volume stays")
        XCTAssertFalse(FileManager.default.fileExists(atPath: api.backend.volumes.directory + "/" + (created.body["name"] as? String ?? "")))
    }

    func testBadVolumeRequestsAre400AndRecordNothing() async throws {
        let api = try await InProcessAPI()
        let alice = try await api.token("alice")
        for (body, field) in [
            (["name": "Weights", "size": "1Gi"], "name"),
            (["size": "1Gi"], "name"),
            (["name": "w"], "size"),
            (["name": "w", "size": "1Mi"], "size"),
            (["name": "w", "size": "lots"], "size"),
            (["name": "w", "size": "1Gi", "mode": "rw"], "mode"),
        ] as [([String: Any], String)] {
            let reply = try await api.request(.post, "/v1/volumes", token: alice, json: body)
            XCTAssertEqual(reply.status, 400, "\(body)")
            try checks.check(reply, path: "/v1/volumes", method: "post")
            let fields = (reply.body["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } ?? []
            XCTAssertTrue(fields.contains(field), "\(body): \(fields)")
        }
        XCTAssertEqual(try api.database.volumes(owner: nil), [])
    }

    func testAVolumeCountsAgainstTheNodesEphemeralStorage() async throws {
        let api = try await InProcessAPI()
        api.database.setCapacityPolicy(CapacityPolicy(node: ResourceLimits(ephemeralStorage: 10 << 30)))
        let alice = try await api.token("alice")
        let reply5 = try await api.request(.post, "/v1/volumes", token: alice, json: ["name": "big", "size": "8Gi"])
        XCTAssertEqual(reply5.status, 201)
        let refused = try await api.request(.post, "/v1/volumes", token: alice, json: ["name": "more", "size": "4Gi"])
        XCTAssertEqual(refused.status, 409)
        XCTAssertEqual(refused.body["type"] as? String, "https://berth.dev/problems/capacity")
        // A container's writable layer shares what is left.
        let container = try await api.request(.post, "/v1/containers", token: alice,
                                              json: ["name": "app", "image": image, "ephemeralStorage": "4Gi"])
        XCTAssertEqual(container.status, 409, "\(container.body)")
    }

    func testOneWriterOrManyReaders() async throws {
        let api = try await InProcessAPI()
        let alice = try await api.token("alice")
        let reply6 = try await api.request(.post, "/v1/volumes", token: alice, json: ["name": "data", "size": "1Gi"])
        XCTAssertEqual(reply6.status, 201)
        func mount(_ readOnly: Bool) -> [[String: Any]] { [["name": "data", "mountPath": "/data", "readOnly": readOnly]] }

        let writer = try await api.request(.post, "/v1/containers", token: alice, json: ["name": "writer", "image": image, "volumes": mount(false)])
        XCTAssertEqual(writer.status, 201, "\(writer.body)")
        try checks.check(writer, path: "/v1/containers", method: "post")
        let second = try await api.request(.post, "/v1/containers", token: alice, json: ["name": "second", "image": image, "volumes": mount(false)])
        XCTAssertEqual(second.status, 409, "\(second.body)")
        let reader = try await api.request(.post, "/v1/containers", token: alice, json: ["name": "reader", "image": image, "volumes": mount(true)])
        XCTAssertEqual(reader.status, 409, "a reader while a writer mounts it: \(reader.body)")
        let scaled = try await api.request(.post, "/v1/containers", token: alice,
                                           json: ["name": "many", "image": image, "maxInstances": 2, "volumes": mount(false)])
        XCTAssertEqual(scaled.status, 400, "a writer of two instances: \(scaled.body)")

        let volume = try await api.request(.get, "/v1/volumes/data", token: alice)
        XCTAssertEqual((volume.body["mountedBy"] as? [[String: Any]])?.first?["readOnly"] as? Bool, false)
        let reply7 = try await api.request(.delete, "/v1/volumes/data", token: alice)
        XCTAssertEqual(reply7.status, 409)

        // The writer turns reader: while its old revision serves it still writes; once the new
        // one serves, others may read too, and no one may write.
        let id = try XCTUnwrap(writer.body["id"] as? String)
        let update = try await api.request(.put, "/v1/containers/\(id)", token: alice, json: ["volumes": mount(true)])
        XCTAssertEqual(update.status, 200, "\(update.body)")
        let reply8 = try await api.request(.post, "/v1/containers", token: alice,
                                             json: ["name": "reader", "image": image, "volumes": mount(true)])
        XCTAssertEqual(reply8.status, 409)
        try api.database.promote(containerID: id, revision: 2)
        let reply9 = try await api.request(.post, "/v1/containers", token: alice,
                                             json: ["name": "reader", "image": image, "volumes": mount(true)])
        XCTAssertEqual(reply9.status, 201)
        let reply10 = try await api.request(.post, "/v1/containers", token: alice,
                                             json: ["name": "again", "image": image, "volumes": mount(false)])
        XCTAssertEqual(reply10.status, 409)
    }

    func testAContainerMayMountOnlyItsOwnersVolumes() async throws {
        let api = try await InProcessAPI()
        let alice = try await api.token("alice")
        let bob = try await api.token("bob")
        let reply11 = try await api.request(.post, "/v1/volumes", token: alice, json: ["name": "private", "size": "1Gi"])
        XCTAssertEqual(reply11.status, 201)
        let reply = try await api.request(.post, "/v1/containers", token: bob, json: [
            "name": "thief", "image": image, "volumes": [["name": "private", "mountPath": "/steal", "readOnly": true]],
        ])
        XCTAssertEqual(reply.status, 400)
        XCTAssertEqual((reply.body["errors"] as? [[String: Any]])?.first?["field"] as? String, "volumes[0].name")
        for path in ["/", "/proc/x", "/etc/hosts", "relative", "/a/../b"] {
            let bad = try await api.request(.post, "/v1/containers", token: alice, json: [
                "name": "bad", "image": image, "volumes": [["name": "private", "mountPath": path]],
            ])
            XCTAssertEqual(bad.status, 400, path)
        }
    }

    // MARK: - Files

    func testFilesGoInWholeAndComeOutAsWritten() async throws {
        let api = try await InProcessAPI()
        let alice = try await api.token("alice")
        let bob = try await api.token("bob")
        let reply12 = try await api.request(.post, "/v1/volumes", token: alice, json: ["name": "models", "size": "64Mi"])
        XCTAssertEqual(reply12.status, 201)
        let bytes = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let put = try await api.send(.put, "/v1/volumes/models/files/llm/v1/model%20a.bin", token: alice, body: bytes,
                                     contentType: "application/octet-stream")
        XCTAssertEqual(put.status, 201, put.text)
        try checks.check(put, path: "/v1/volumes/{name}/files/{path}", method: "put")
        XCTAssertEqual(put.headers[.location], "/v1/volumes/models/files/llm/v1/model%20a.bin")
        XCTAssertEqual(try put.json()["bytes"] as? Int, bytes.count)
        XCTAssertEqual(try put.json()["path"] as? String, "llm/v1/model a.bin")

        let get = try await api.send(.get, "/v1/volumes/models/files/llm/v1/model%20a.bin", token: alice)
        XCTAssertEqual(get.status, 200)
        try checks.check(get, path: "/v1/volumes/{name}/files/{path}", method: "get")
        XCTAssertEqual(get.headers[.contentType], "application/octet-stream")
        XCTAssertEqual(get.body, bytes)

        let again = try await api.send(.put, "/v1/volumes/models/files/llm/v1/model%20a.bin", token: alice, body: Data("v2".utf8))
        XCTAssertEqual(again.status, 200, again.text)
        try checks.check(again, path: "/v1/volumes/{name}/files/{path}", method: "put")
        let reply13 = try await api.send(.get, "/v1/volumes/models/files/llm/v1/model%20a.bin", token: alice)
        XCTAssertEqual(reply13.text, "v2")
        // No scratch file stays beside it.
        let folder = api.backend.volumes.mountPoint(try XCTUnwrap(api.database.volume(owner: "alice", name: "models")).id) + "/llm/v1"
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["model a.bin"])

        let reply14 = try await api.send(.get, "/v1/volumes/models/files/llm/v1/model%20a.bin", token: bob)
        XCTAssertEqual(reply14.status, 404)
        let missing = try await api.send(.get, "/v1/volumes/models/files/llm/none", token: alice)
        XCTAssertEqual(missing.status, 404)
        try checks.check(missing, path: "/v1/volumes/{name}/files/{path}", method: "get")
        let aFolder = try await api.send(.get, "/v1/volumes/models/files/llm", token: alice)
        XCTAssertEqual(aFolder.status, 404, "a folder is not a file")

        let methods = try await api.send(.delete, "/v1/volumes/models/files/llm/v1/model%20a.bin", token: alice)
        XCTAssertEqual(methods.status, 405)
        XCTAssertEqual(methods.headers[.allow], "GET, PUT")
    }

    func testPathsThatLeaveTheVolumeOrFollowLinksAreRefused() async throws {
        let api = try await InProcessAPI()
        let alice = try await api.token("alice")
        let reply15 = try await api.request(.post, "/v1/volumes", token: alice, json: ["name": "v", "size": "64Mi"])
        XCTAssertEqual(reply15.status, 201)
        let root = api.backend.volumes.mountPoint(try XCTUnwrap(api.database.volume(owner: "alice", name: "v")).id)
        let outside = NSTemporaryDirectory() + "berth-outside-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try Data("host secret".utf8).write(to: URL(fileURLWithPath: outside + "/file"))
        // What a writer container could leave behind: links out of the volume.
        try FileManager.default.createSymbolicLink(atPath: root + "/out", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: outside + "/file")

        for path in ["%2E%2E/x", "a/%2e%2e/%2e%2e/x", "a//b", "./a", "a%00b", "%2Fetc%2Fpasswd"] {
            let reply = try await api.send(.put, "/v1/volumes/v/files/\(path)", token: alice, body: Data("x".utf8))
            XCTAssertEqual(reply.status, 400, "\(path): \(reply.text)")
            try checks.check(reply, path: "/v1/volumes/{name}/files/{path}", method: "put")
        }
        let through = try await api.send(.put, "/v1/volumes/v/files/out/file", token: alice, body: Data("overwritten".utf8))
        XCTAssertEqual(through.status, 409, through.text)
        try checks.check(through, path: "/v1/volumes/{name}/files/{path}", method: "put")
        let reply16 = try await api.send(.get, "/v1/volumes/v/files/out/file", token: alice)
        XCTAssertEqual(reply16.status, 404)
        let reply17 = try await api.send(.get, "/v1/volumes/v/files/link", token: alice)
        XCTAssertEqual(reply17.status, 404)
        XCTAssertEqual(try String(contentsOfFile: outside + "/file", encoding: .utf8), "host secret")
        // Replacing the link itself puts a file there; the target is untouched.
        let reply18 = try await api.send(.put, "/v1/volumes/v/files/link", token: alice, body: Data("mine".utf8))
        XCTAssertEqual(reply18.status, 200)
        XCTAssertEqual(try String(contentsOfFile: outside + "/file", encoding: .utf8), "host secret")
    }

    func testUploadsAreBoundedAndRefusedWhileAContainerWritesTheVolume() async throws {
        let api = try await InProcessAPI()
        let alice = try await api.token("alice")
        let reply19 = try await api.request(.post, "/v1/volumes", token: alice, json: ["name": "v", "size": "16Mi"])
        XCTAssertEqual(reply19.status, 201)
        // The announced length is over the volume's size: refused before a byte is written.
        var fields = Data(count: 17 << 20)
        fields[0] = 1
        let tooBig = try await api.send(.put, "/v1/volumes/v/files/big", token: alice, body: fields)
        XCTAssertEqual(tooBig.status, 507, tooBig.text)
        try checks.check(tooBig, path: "/v1/volumes/{name}/files/{path}", method: "put")
        let reply20 = try await api.send(.get, "/v1/volumes/v/files/big", token: alice)
        XCTAssertEqual(reply20.status, 404)

        let writer = try await api.request(.post, "/v1/containers", token: alice, json: [
            "name": "writer", "image": image, "volumes": [["name": "v", "mountPath": "/v"]],
        ])
        XCTAssertEqual(writer.status, 201)
        let refused = try await api.send(.put, "/v1/volumes/v/files/a", token: alice, body: Data("x".utf8))
        XCTAssertEqual(refused.status, 409)
        try checks.check(refused, path: "/v1/volumes/{name}/files/{path}", method: "put")
        let id = try XCTUnwrap(writer.body["id"] as? String)
        let reply21 = try await api.request(.put, "/v1/containers/\(id)", token: alice,
                                             json: ["volumes": [["name": "v", "mountPath": "/v", "readOnly": true]]])
        XCTAssertEqual(reply21.status, 200)
        try api.database.promote(containerID: id, revision: 2)
        let reply22 = try await api.send(.put, "/v1/volumes/v/files/a", token: alice, body: Data("x".utf8))
        XCTAssertEqual(reply22.status, 201,
                       "readers see the old file or the whole new one")
    }
}

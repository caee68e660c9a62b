import Foundation
import Hummingbird
import Store
import XCTest

/// The secret endpoints in process: a value goes in sealed and never comes out, references are
/// the owner's, a secret in use stays, and a new value rolls the containers that use it.
final class SecretAPITests: XCTestCase {
    let checks = OpenAPIChecks.shared
    let image = "registry.test/app:1"
    let value = "hf_SECRET_VALUE_0123456789"

    func testTheValueIsSealedAndNeverShown() async throws {
        let api = try await InProcessAPI()
        let alice = try await api.token("alice")
        let created = try await api.send(.post, "/v1/secrets", token: alice, json: ["name": "hf", "value": value])
        XCTAssertEqual(created.status, 201, created.text)
        try checks.check(created, path: "/v1/secrets", method: "post")
        XCTAssertEqual(created.headers[.location], "/v1/secrets/hf")
        XCTAssertEqual(try created.json()["size"] as? Int, value.utf8.count)
        XCTAssertEqual(try created.json()["version"] as? Int, 1)

        let get = try await api.send(.get, "/v1/secrets/hf", token: alice)
        try checks.check(get, path: "/v1/secrets/{name}", method: "get")
        let list = try await api.send(.get, "/v1/secrets", token: alice)
        try checks.check(list, path: "/v1/secrets", method: "get")
        let container = try await api.send(.post, "/v1/containers", token: alice, json: [
            "name": "llm", "image": image, "env": ["HF_TOKEN": ["secret": "hf"], "PLAIN": "x"],
            "secretMounts": [["secret": "hf", "path": "/run/secrets/hf"]],
        ])
        XCTAssertEqual(container.status, 201, container.text)
        try checks.check(container, path: "/v1/containers", method: "post")
        XCTAssertEqual(try container.json()["env"] as? NSDictionary, ["HF_TOKEN": ["secret": "hf"], "PLAIN": "x"])
        let id = try XCTUnwrap(try container.json()["id"] as? String)
        let revisions = try await api.send(.get, "/v1/containers/\(id)/revisions", token: alice)
        for reply in [created, get, list, container, revisions] {
            XCTAssertFalse(reply.text.contains(value), reply.text)
        }

        // At rest: only sealed, bound to its owner and name.
        let stored = try XCTUnwrap(api.database.secret(owner: "alice", name: "hf"))
        XCTAssertNil(Data(stored.sealed).range(of: Data(value.utf8)))
        XCTAssertEqual(try api.backend.secretBox.open(stored.sealed, owner: "alice", name: "hf"), Array(value.utf8))
        XCTAssertThrowsError(try api.backend.secretBox.open(stored.sealed, owner: "bob", name: "hf"))
        let revision = try XCTUnwrap(api.database.revision(containerID: id, number: 1))
        XCTAssertEqual(revision.spec.secretEnv, ["HF_TOKEN": "hf"])
        XCTAssertNil(revision.spec.env["HF_TOKEN"], "a secret is not plain env")
    }

    func testSecretsAreTheOwnersAndReferencesMustExist() async throws {
        let api = try await InProcessAPI()
        let alice = try await api.token("alice")
        let bob = try await api.token("bob")
        let admin = try await api.token("root", roles: ["ADMIN"])
        let reply1 = try await api.send(.post, "/v1/secrets", token: alice, json: ["name": "hf", "value": value])
        XCTAssertEqual(reply1.status, 201)
        let duplicate = try await api.send(.post, "/v1/secrets", token: alice, json: ["name": "hf", "value": "other"])
        XCTAssertEqual(duplicate.status, 409)
        try checks.check(duplicate, path: "/v1/secrets", method: "post")

        let foreign = try await api.send(.get, "/v1/secrets/hf", token: bob)
        XCTAssertEqual(foreign.status, 404)
        try checks.check(foreign, path: "/v1/secrets/{name}", method: "get")
        let reply2 = try await api.send(.get, "/v1/secrets/hf?owner=alice", token: bob)
        XCTAssertEqual(reply2.status, 403)
        let reply3 = try await api.send(.get, "/v1/secrets/hf?owner=alice", token: admin)
        XCTAssertEqual(reply3.status, 200)
        let reply4 = try await api.send(.put, "/v1/secrets/hf", token: bob, json: ["value": "stolen"])
        XCTAssertEqual(reply4.status, 404)
        let reply5 = try await api.send(.delete, "/v1/secrets/hf", token: bob)
        XCTAssertEqual(reply5.status, 404)

        // Bob cannot read alice's secret through a container of his.
        let thief = try await api.send(.post, "/v1/containers", token: bob, json: [
            "name": "thief", "image": image, "env": ["T": ["secret": "hf"]],
        ])
        XCTAssertEqual(thief.status, 400, thief.text)
        XCTAssertEqual((try thief.json()["errors"] as? [[String: Any]])?.first?["field"] as? String, "env.T")
        let mounted = try await api.send(.post, "/v1/containers", token: bob, json: [
            "name": "thief", "image": image, "secretMounts": [["secret": "hf", "path": "/s"]],
        ])
        XCTAssertEqual(mounted.status, 400, mounted.text)

        for body in [["name": "x"], ["name": "x", "value": 3], ["name": "X", "value": "v"],
                     ["name": "x", "value": String(repeating: "a", count: 65537)], ["name": "x", "value": "a\u{0}b"], ["name": "x", "value": "v", "extra": 1]] as [[String: Any]] {
            let reply = try await api.send(.post, "/v1/secrets", token: alice, json: body)
            XCTAssertEqual(reply.status, 400, "\(body.keys)")
            try checks.check(reply, path: "/v1/secrets", method: "post")
        }
        let reply6 = try await api.send(.post, "/v1/secrets", token: alice,
                                          json: ["name": "max", "value": String(repeating: "a", count: 65536)])
        XCTAssertEqual(reply6.status, 201)
    }

    func testANewValueRollsTheContainersThatUseItAndAUsedSecretStays() async throws {
        let api = try await InProcessAPI()
        let alice = try await api.token("alice")
        let reply7 = try await api.send(.post, "/v1/secrets", token: alice, json: ["name": "hf", "value": value])
        XCTAssertEqual(reply7.status, 201)
        let user = try await api.send(.post, "/v1/containers", token: alice, json: [
            "name": "user", "image": image, "env": ["HF_TOKEN": ["secret": "hf"]],
        ])
        let other = try await api.send(.post, "/v1/containers", token: alice, json: ["name": "other", "image": image])
        let userID = try XCTUnwrap(try user.json()["id"] as? String)
        let otherID = try XCTUnwrap(try other.json()["id"] as? String)

        let inUse = try await api.send(.delete, "/v1/secrets/hf", token: alice)
        XCTAssertEqual(inUse.status, 409)
        try checks.check(inUse, path: "/v1/secrets/{name}", method: "delete")
        XCTAssertEqual(try inUse.json()["detail"] as? String,
                       "secret \"hf\" is used by container \"user\"; update or delete those containers first")

        let applied = api.backend.appliedIDs.count
        let replaced = try await api.send(.put, "/v1/secrets/hf", token: alice, json: ["value": "hf_NEW"])
        XCTAssertEqual(replaced.status, 200, replaced.text)
        try checks.check(replaced, path: "/v1/secrets/{name}", method: "put")
        XCTAssertEqual(try replaced.json()["version"] as? Int, 2)
        XCTAssertEqual(try replaced.json()["size"] as? Int, 6)
        XCTAssertEqual(try replaced.json()["rolledContainers"] as? [String], [userID])
        XCTAssertEqual(Array(api.backend.appliedIDs.dropFirst(applied)), [userID])
        XCTAssertEqual(try api.database.container(id: userID)?.latestRevision, 2, "rolled to a revision of the same settings")
        XCTAssertEqual(try api.database.revision(containerID: userID, number: 2)?.spec,
                       try api.database.revision(containerID: userID, number: 1)?.spec)
        XCTAssertEqual(try api.database.container(id: otherID)?.latestRevision, 1)
        let stored = try XCTUnwrap(api.database.secret(owner: "alice", name: "hf"))
        XCTAssertEqual(try api.backend.secretBox.open(stored.sealed, owner: "alice", name: "hf"), Array("hf_NEW".utf8))

        // Once no revision of the container uses it (the new one serving), it may go.
        let reply8 = try await api.send(.put, "/v1/containers/\(userID)", token: alice, json: ["env": [:] as [String: String]])
        XCTAssertEqual(reply8.status, 200)
        try api.database.promote(containerID: userID, revision: 3)
        let deleted = try await api.send(.delete, "/v1/secrets/hf", token: alice)
        XCTAssertEqual(deleted.status, 204, deleted.text)
        try checks.check(deleted, path: "/v1/secrets/{name}", method: "delete")
        let reply9 = try await api.send(.get, "/v1/secrets/hf", token: alice)
        XCTAssertEqual(reply9.status, 404)
        let missing = try await api.send(.put, "/v1/secrets/hf", token: alice, json: ["value": "x"])
        XCTAssertEqual(missing.status, 404)
        try checks.check(missing, path: "/v1/secrets/{name}", method: "put")
    }
}

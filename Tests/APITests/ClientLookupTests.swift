import API
import Foundation
import XCTest

/// What a client such as `berth` needs beyond the seed's endpoints: a name lookup, the newest
/// revision beside the serving one, pull progress in a container's status, and logs of another
/// revision or since a time.
final class ClientLookupTests: XCTestCase {
    static let image = "127.0.0.1:5000/berth/never-pulled:1"

    func testANameLooksUpOnlyWhatTheListWouldShow() async throws {
        let api = try await InProcessAPI()
        let alice = try await api.token("alice")
        let bob = try await api.token("bob")
        let admin = try await api.token("root", roles: ["ADMIN"])
        let created = try await api.send(.post, "/v1/containers", token: alice, json: ["name": "web", "image": Self.image])
        XCTAssertEqual(created.status, 201, created.text)
        let id = try XCTUnwrap(try created.json()["id"] as? String)

        let found = try await api.send(.get, "/v1/containers?name=web", token: alice)
        XCTAssertEqual(found.status, 200, found.text)
        try OpenAPIChecks.shared.check(found, path: "/v1/containers", method: "GET")
        XCTAssertEqual((try found.json()["containers"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, [id])

        for (token, path, expected) in [(bob, "/v1/containers?name=web", 0), (admin, "/v1/containers?name=web", 0),
                                        (admin, "/v1/containers?name=web&all=true", 1), (alice, "/v1/containers?name=nothing", 0)] {
            let reply = try await api.send(.get, path, token: token)
            XCTAssertEqual(reply.status, 200, reply.text)
            XCTAssertEqual((try reply.json()["containers"] as? [[String: Any]])?.count, expected, path)
        }
        let bobAll = try await api.send(.get, "/v1/containers?name=web&all=true", token: bob)
        XCTAssertEqual(bobAll.status, 403, "all=true stays ADMIN only with a name")

        _ = try await api.send(.delete, "/v1/containers/\(id)", token: alice)
        let gone = try await api.send(.get, "/v1/containers?name=web", token: alice)
        XCTAssertEqual((try gone.json()["containers"] as? [[String: Any]])?.count, 0, "a container being deleted is not found")
    }

    func testARolloutShowsTheNewestRevisionAndItsPull() async throws {
        let api = try await InProcessAPI()
        let token = try await api.token("alice")
        let created = try await api.send(.post, "/v1/containers", token: token, json: ["name": "web", "image": Self.image])
        let id = try XCTUnwrap(try created.json()["id"] as? String)
        XCTAssertEqual(try created.json()["latestRevision"] as? Int, 1)
        XCTAssertNil(try created.json()["pull"])

        let next = "127.0.0.1:5000/berth/never-pulled:2"
        let updated = try await api.send(.put, "/v1/containers/\(id)", token: token, json: ["image": next])
        XCTAssertEqual(updated.status, 200, updated.text)
        XCTAssertEqual(try updated.json()["latestRevision"] as? Int, 2)
        api.backend.setInstances(ContainerInstances(desired: 1, list: [
            InstanceReport(revision: 1, instance: 0, status: "running", since: Date(), inFlight: 0),
            InstanceReport(revision: 2, instance: 0, status: "pulling", since: Date(), inFlight: 0),
        ]), of: id)
        api.backend.setPull(PullReport(phase: "downloading", layers: .init(done: 1, total: 3), bytes: .init(done: 1000, total: 9000)),
                            image: next)

        for path in ["/v1/containers/\(id)", "/v1/containers"] {
            let reply = try await api.send(.get, path, token: token)
            try OpenAPIChecks.shared.check(reply, path: path == "/v1/containers" ? path : "/v1/containers/{id}", method: "GET")
            let body = try reply.json()
            let container = try XCTUnwrap(path == "/v1/containers" ? (body["containers"] as? [[String: Any]])?.first : body)
            XCTAssertEqual(container["revision"] as? Int, 1, "revision 1 serves")
            XCTAssertEqual(container["latestRevision"] as? Int, 2)
            let pull = try XCTUnwrap(container["pull"] as? [String: Any], "\(container)")
            XCTAssertEqual(pull["revision"] as? Int, 2)
            XCTAssertEqual(pull["image"] as? String, next)
            XCTAssertEqual(pull["phase"] as? String, "downloading")
            XCTAssertEqual(pull["layers"] as? [String: Int], ["done": 1, "total": 3])
            XCTAssertEqual(pull["bytes"] as? [String: Int], ["done": 1000, "total": 9000])
        }

        // The pull ends: an observation, which a list shows once the window it may lag by
        // (100 ms) has passed since the body kept was read.
        api.backend.setPull(nil, image: next)
        try await Task.sleep(for: .milliseconds(150))
        let after = try await api.send(.get, "/v1/containers", token: token)
        XCTAssertNil((try after.json()["containers"] as? [[String: Any]])?.first?["pull"])
    }

    func testLogsTakeARevisionAndASinceTime() async throws {
        let api = try await InProcessAPI()
        let token = try await api.token("alice")
        let created = try await api.send(.post, "/v1/containers", token: token, json: ["name": "web", "image": Self.image])
        let id = try XCTUnwrap(try created.json()["id"] as? String)
        let logs = "/v1/containers/\(id)/logs"
        for query in ["since=10m", "since=2026-12-02T15:04:05Z", "since=2026-12-02T15:04:05.250%2B01:00", "revision=1", "since=90&tail=5"] {
            let reply = try await api.send(.get, "\(logs)?\(query)", token: token)
            XCTAssertEqual(reply.status, 200, "\(query): \(reply.text)")
            try OpenAPIChecks.shared.check(reply, path: "/v1/containers/{id}/logs", method: "GET")
        }
        for (query, field) in [("since=yesterday", "since"), ("since=-5m", "since"), ("revision=0", "revision"), ("revision=two", "revision")] {
            let reply = try await api.send(.get, "\(logs)?\(query)", token: token)
            XCTAssertEqual(reply.status, 400, "\(query): \(reply.text)")
            XCTAssertEqual((try reply.json()["errors"] as? [[String: Any]])?.first?["field"] as? String, field, query)
            try OpenAPIChecks.shared.check(reply, path: "/v1/containers/{id}/logs", method: "GET")
        }
        let missing = try await api.send(.get, "\(logs)?revision=7", token: token)
        XCTAssertEqual(missing.status, 404, missing.text)
        XCTAssertTrue(missing.text.contains("no revision 7"), missing.text)
    }
}

@testable import API
import Foundation
import HTTPTypes
import Store
import XCTest

/// What clients see of the store's rules: a DELETE that answers at once, PUTs that lose no
/// change, conflicts that are 409 or 404, a full disk that is 507, writes held during recovery.
final class StoreSemanticsAPITests: XCTestCase {
    func testDeleteAnswersAtOnceAndTheContainerIsGoneFromTheAPI() async throws {
        let api = try await InProcessAPI()
        let token = try await api.token("alice")
        let created = try await api.request(.post, "/v1/containers", token: token, json: ["name": "web", "image": "registry.test/app:1"])
        let id = try XCTUnwrap(created.body["id"] as? String)

        let started = ContinuousClock.now
        let deleted = try await api.request(.delete, "/v1/containers/\(id)", token: token)
        XCTAssertEqual(deleted.status, 204)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1), "no waiting for the teardown")
        XCTAssertEqual(api.backend.appliedIDs, [id, id], "the teardown was handed to the reconciler")
        XCTAssertEqual(try api.database.container(id: id)?.phase, .deleting, "the record stays until the tasks are gone")

        let get = try await api.request(.get, "/v1/containers/\(id)", token: token).status
        let deleteAgain = try await api.request(.delete, "/v1/containers/\(id)", token: token).status
        let put = try await api.request(.put, "/v1/containers/\(id)", token: token, json: ["cpu": 0.5]).status
        XCTAssertEqual([get, deleteAgain, put], [404, 404, 404])
        let list = try await api.request(.get, "/v1/containers", token: token)
        XCTAssertEqual((list.body["containers"] as? [Any])?.count, 0)
        let again = try await api.request(.post, "/v1/containers", token: token, json: ["name": "web", "image": "registry.test/app:1"])
        XCTAssertEqual(again.status, 201, "the name is free at once: \(again.body)")
    }

    func testConcurrentUpdatesOfDifferentFieldsAllLand() async throws {
        let api = try await InProcessAPI()
        let token = try await api.token("alice")
        let created = try await api.request(.post, "/v1/containers", token: token, json: ["name": "web", "image": "registry.test/app:1"])
        let id = try XCTUnwrap(created.body["id"] as? String)
        let changes: [[String: Any]] = [["cpu": 0.5], ["ram": "256Mi"], ["port": 9090], ["image": "registry.test/app:2"],
                                        ["ephemeralStorage": "2Gi"], ["env": ["MODE": "fast"]]]
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for change in try changes.map({ try JSONSerialization.data(withJSONObject: $0) }) {
                group.addTask {
                    let change = try JSONSerialization.jsonObject(with: change) as! [String: Any]
                    return try await api.request(.put, "/v1/containers/\(id)", token: token, json: change).status
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(statuses, Array(repeating: 200, count: changes.count))
        let container = try XCTUnwrap(try api.database.container(id: id))
        XCTAssertEqual(container.latestRevision, 1 + changes.count, "one revision per PUT")
        let latest = try XCTUnwrap(try api.database.revision(containerID: id, number: container.latestRevision)).spec
        XCTAssertEqual(latest.cpu, 0.5)
        XCTAssertEqual(latest.memory.description, "256Mi")
        XCTAssertEqual(latest.port, 9090)
        XCTAssertEqual(latest.image, "registry.test/app:2")
        XCTAssertEqual(latest.ephemeralStorage.description, "2Gi")
        XCTAssertEqual(latest.env, ["MODE": "fast"], "every change is in the newest revision: none was lost")
    }

    func testWritesWaitForRecoveryWith503AndRetryAfter() async throws {
        let api = try await InProcessAPI()
        let token = try await api.token("alice")
        let created = try await api.request(.post, "/v1/containers", token: token, json: ["name": "web", "image": "registry.test/app:1"])
        let id = try XCTUnwrap(created.body["id"] as? String)
        api.backend.setReady(false)
        for (method, path, json) in [(HTTPRequest.Method.post, "/v1/containers", ["name": "other", "image": "registry.test/app:1"] as [String: Any]?),
                                     (.put, "/v1/containers/\(id)", ["cpu": 0.5]), (.delete, "/v1/containers/\(id)", nil)] {
            let reply = try await api.request(method, path, token: token, json: json)
            XCTAssertEqual(reply.status, 503, "\(method) \(path)")
            XCTAssertEqual(reply.headers[.retryAfter], "1")
            XCTAssertEqual(reply.headers[.contentType], "application/problem+json")
        }
        let read = try await api.request(.get, "/v1/containers/\(id)", token: token).status
        XCTAssertEqual(read, 200, "reads are served")
        XCTAssertEqual(try api.database.containerCount(), 1)
        XCTAssertEqual(try api.database.container(id: id)?.latestRevision, 1, "nothing was written")
    }

    func testStoreRefusalsMapToTheirStatuses() {
        let cases: [(StoreError, Int)] = [
            (.nameTaken("web"), 409), (.notFound("container x"), 404), (.deleting("x"), 409),
            (.concurrentChange("x"), 409), (.gpuTaken(["gpu0"]), 409), (.diskFull, 507), (.unavailable("locked"), 503),
        ]
        for (error, status) in cases {
            XCTAssertEqual(APIError(error)?.status.code, status, "\(error)")
        }
        XCTAssertNil(APIError(.newerSchema(["v9"])), "a bug stays a 500")
    }
}

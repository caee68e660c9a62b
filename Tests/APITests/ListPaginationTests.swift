import API
import Foundation
import XCTest

/// `GET /v1/containers` in pages: `pageSize` and `nextPageToken`, as Cloud Run's list.
final class ListPaginationTests: XCTestCase {
    static let image = "127.0.0.1:5000/berth/never-pulled:1"

    private func create(_ api: InProcessAPI, _ name: String, token: String) async throws -> String {
        let created = try await api.send(.post, "/v1/containers", token: token, json: ["name": name, "image": Self.image])
        XCTAssertEqual(created.status, 201, created.text)
        return try XCTUnwrap(try created.json()["id"] as? String)
    }

    /// Every page from the first, with their ids; fails on a page that is not 200.
    private func walk(_ api: InProcessAPI, token: String, query: String = "", between: ([String]) async throws -> Void = { _ in })
        async throws -> [[String]] {
        var pages: [[String]] = []
        var next: String?
        repeat {
            let path = "/v1/containers?" + query + (next.map { "&pageToken=\($0)" } ?? "")
            let reply = try await api.send(.get, path, token: token)
            XCTAssertEqual(reply.status, 200, reply.text)
            try OpenAPIChecks.shared.check(reply, path: "/v1/containers", method: "GET")
            let body = try reply.json()
            pages.append(try XCTUnwrap(body["containers"] as? [[String: Any]]).compactMap { $0["id"] as? String })
            next = body["nextPageToken"] as? String
            try await between(pages.flatMap { $0 })
        } while next != nil && pages.count < 1000
        return pages
    }

    func testPagesCoverTheListInOrderAndTheLastHasNoToken() async throws {
        let api = try await InProcessAPI()
        let alice = try await api.token("alice")
        let bob = try await api.token("bob")
        var ids: [String] = []
        for index in 0..<230 { ids.append(try await create(api, "web-\(index)", token: alice)) }
        _ = try await create(api, "other", token: bob)

        let pages = try await walk(api, token: alice, query: "pageSize=100")
        XCTAssertEqual(pages.map(\.count), [100, 100, 30])
        XCTAssertEqual(pages.flatMap { $0 }, ids, "oldest first, each once, only the caller's")

        let first = try await api.send(.get, "/v1/containers", token: alice)
        XCTAssertEqual((try first.json()["containers"] as? [Any])?.count, 100, "the default page holds 100")
        XCTAssertNotNil(try first.json()["nextPageToken"] as? String)
        for query in ["pageSize=0", "pageSize=5000"] {
            let reply = try await api.send(.get, "/v1/containers?" + query, token: alice)
            let count = (try reply.json()["containers"] as? [Any])?.count
            XCTAssertEqual(count, query == "pageSize=0" ? 100 : 230, "\(query): 0 is the default, above 1000 is 1000")
        }
        let one = try await api.send(.get, "/v1/containers?pageSize=1", token: bob)
        XCTAssertEqual((try one.json()["containers"] as? [Any])?.count, 1)
        XCTAssertNil(try one.json()["nextPageToken"], "the last page carries no token")
    }

    func testBadPageParametersAre400AndATokenOnlyContinuesItsOwnList() async throws {
        let api = try await InProcessAPI()
        let alice = try await api.token("alice")
        let bob = try await api.token("bob")
        let admin = try await api.token("root", roles: ["ADMIN"])
        for index in 0..<3 { _ = try await create(api, "web-\(index)", token: alice) }
        let first = try await api.send(.get, "/v1/containers?pageSize=2", token: alice)
        let token = try XCTUnwrap(try first.json()["nextPageToken"] as? String)

        let cases: [(String, String, String)] = [
            (alice, "pageSize=-1", "pageSize"), (alice, "pageSize=ten", "pageSize"),
            (alice, "pageToken=garbage", "pageToken"), (bob, "pageToken=\(token)", "pageToken"),
            (admin, "all=true&pageToken=\(token)", "pageToken"),
        ]
        for (caller, query, field) in cases {
            let reply = try await api.send(.get, "/v1/containers?" + query, token: caller)
            XCTAssertEqual(reply.status, 400, "\(query): \(reply.text)")
            try OpenAPIChecks.shared.check(reply, path: "/v1/containers", method: "GET")
            let errors = try XCTUnwrap(try reply.json()["errors"] as? [[String: Any]], reply.text)
            XCTAssertEqual(errors.compactMap { $0["field"] as? String }, [field], query)
        }
        let owned = try await api.send(.get, "/v1/containers?pageSize=2&pageToken=\(token)", token: alice)
        XCTAssertEqual((try owned.json()["containers"] as? [Any])?.count, 1, "the token continues alice's list")
    }

    /// Containers created and deleted between the pages a client walks: each one that exists
    /// throughout is listed exactly once, and none twice.
    func testPagesCoverTheListOnceUnderCreatesAndDeletesBetweenPages() async throws {
        let api = try await InProcessAPI()
        let alice = try await api.token("alice")
        var ids: [String] = []
        for index in 0..<120 { ids.append(try await create(api, "web-\(index)", token: alice)) }
        // Every third one is deleted during the walk, on pages already read and on pages ahead
        // (each step deletes one behind and one ahead of where the walk is).
        var doomed = ids.enumerated().filter { $0.offset % 3 == 1 }.map(\.element)
        let kept = ids.filter { !doomed.contains($0) }
        var deletedAhead: [String] = []
        var deletedBehind: [String] = []
        var created: [String] = []
        let pages = try await walk(api, token: alice, query: "pageSize=7") { listed in
            for id in Set([doomed.first, doomed.last].compactMap { $0 }) {
                let reply = try await api.send(.delete, "/v1/containers/\(id)", token: alice)
                XCTAssertEqual(reply.status, 204)
                if listed.contains(id) { deletedBehind.append(id) } else { deletedAhead.append(id) }
                doomed.removeAll { $0 == id }
            }
            created.append(try await create(api, "new-\(listed.count)", token: alice))
        }
        XCTAssertGreaterThan(deletedAhead.count, 5)
        XCTAssertGreaterThan(deletedBehind.count, 5)
        let listed = pages.flatMap { $0 }
        XCTAssertEqual(listed.count, Set(listed).count, "no container is listed twice")
        XCTAssertEqual(listed.filter { kept.contains($0) }, kept, "every container that existed throughout is listed once, in order")
        XCTAssertEqual(Set(listed).intersection(deletedAhead), [], "one deleted before its page was read is not listed")
        XCTAssertEqual(listed.filter { created.contains($0) }, created.filter { listed.contains($0) }, "new ones in creation order")
        for id in doomed { _ = try await api.send(.delete, "/v1/containers/\(id)", token: alice) }

        // Walked again afterwards: exactly what is there.
        let after = try await walk(api, token: alice, query: "pageSize=7").flatMap { $0 }
        XCTAssertEqual(after, kept + created)
    }
}

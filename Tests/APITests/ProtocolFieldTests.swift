import API
import BerthModel
import Foundation
import JSONValue
import XCTest

/// `protocol` on create and update: the HTTP a container serves (`http1` by default, or `h2c`),
/// kept by an update that leaves it out and by a secret's roll, refused unless exactly one of
/// the two, and shown on the container and each revision as the OpenAPI document says.
final class ProtocolFieldTests: XCTestCase {
    static let image = "127.0.0.1:5000/berth/never-pulled:1"
    let checks = OpenAPIChecks.shared

    func testH2CIsRecordedShownAndKeptUntilChanged() async throws {
        let api = try await InProcessAPI()
        let token = try await api.token("alice")
        let created = try await api.send(.post, "/v1/containers", token: token,
                                         json: ["name": "greeter", "image": Self.image, "port": 50051, "protocol": "h2c"])
        XCTAssertEqual(created.status, 201, created.text)
        try checks.check(created, path: "/v1/containers", method: "POST")
        XCTAssertEqual(try created.json()["protocol"] as? String, "h2c")
        let id = try XCTUnwrap(try created.json()["id"] as? String)
        XCTAssertEqual(try api.database.revision(containerID: id, number: 1)?.spec.servingProtocol, .h2c)

        let got = try await api.send(.get, "/v1/containers/\(id)", token: token)
        try checks.check(got, path: "/v1/containers/{id}", method: "GET")
        XCTAssertEqual(try got.json()["protocol"] as? String, "h2c")

        // An update without the field keeps it; one that names it makes a new revision with it.
        let kept = try await api.send(.put, "/v1/containers/\(id)", token: token, json: ["cpu": 0.5])
        XCTAssertEqual(kept.status, 200, kept.text)
        try checks.check(kept, path: "/v1/containers/{id}", method: "PUT")
        XCTAssertEqual(try kept.json()["protocol"] as? String, "h2c")
        XCTAssertEqual(try kept.json()["latestRevision"] as? Int, 2)
        let changed = try await api.send(.put, "/v1/containers/\(id)", token: token, json: ["protocol": "http1"])
        XCTAssertEqual(changed.status, 200, changed.text)
        try checks.check(changed, path: "/v1/containers/{id}", method: "PUT")
        XCTAssertEqual(try changed.json()["protocol"] as? String, "http1")
        XCTAssertEqual(try changed.json()["latestRevision"] as? Int, 3)
        XCTAssertEqual(try api.database.revision(containerID: id, number: 3)?.spec.servingProtocol, .http1)

        let revisions = try await api.send(.get, "/v1/containers/\(id)/revisions", token: token)
        try checks.check(revisions, path: "/v1/containers/{id}/revisions", method: "GET")
        let listed = try XCTUnwrap(try revisions.json()["revisions"] as? [[String: Any]])
        XCTAssertEqual(listed.map { $0["revision"] as? Int }, [3, 2, 1])
        XCTAssertEqual(listed.map { $0["protocol"] as? String }, ["http1", "h2c", "h2c"])
    }

    func testACreateWithoutItServesHTTP1() async throws {
        let api = try await InProcessAPI()
        let token = try await api.token("alice")
        let created = try await api.send(.post, "/v1/containers", token: token, json: ["name": "web", "image": Self.image])
        XCTAssertEqual(created.status, 201, created.text)
        try checks.check(created, path: "/v1/containers", method: "POST")
        XCTAssertEqual(try created.json()["protocol"] as? String, "http1")
        let list = try await api.send(.get, "/v1/containers", token: token)
        try checks.check(list, path: "/v1/containers", method: "GET")
        let first = try XCTUnwrap((try list.json()["containers"] as? [[String: Any]])?.first)
        XCTAssertEqual(first["protocol"] as? String, "http1")
    }

    func testASecretsRollKeepsTheProtocol() async throws {
        let api = try await InProcessAPI()
        let token = try await api.token("alice")
        let secret = try await api.send(.post, "/v1/secrets", token: token, json: ["name": "tls", "value": "v1"])
        XCTAssertEqual(secret.status, 201, secret.text)
        let created = try await api.send(.post, "/v1/containers", token: token, json: [
            "name": "greeter", "image": Self.image, "protocol": "h2c", "env": ["KEY": ["secret": "tls"]],
        ])
        let id = try XCTUnwrap(try created.json()["id"] as? String)
        let replaced = try await api.send(.put, "/v1/secrets/tls", token: token, json: ["value": "v2"])
        XCTAssertEqual(replaced.status, 200, replaced.text)
        XCTAssertEqual(try api.database.revision(containerID: id, number: 2)?.spec.servingProtocol, .h2c)
    }

    func testAnythingButExactlyHTTP1OrH2CIsRefusedAndWritesNothing() async throws {
        let api = try await InProcessAPI()
        let token = try await api.token("alice")
        let created = try await api.send(.post, "/v1/containers", token: token, json: ["name": "web", "image": Self.image])
        let id = try XCTUnwrap(try created.json()["id"] as? String)
        for bad: Any in ["HTTP2", 2, "h2", "H2C", "http2", "", NSNull(), ["h2c"]] {
            let create = try await api.send(.post, "/v1/containers", token: token,
                                            json: ["name": "other", "image": Self.image, "protocol": bad])
            let update = try await api.send(.put, "/v1/containers/\(id)", token: token, json: ["protocol": bad])
            for (reply, path, method) in [(create, "/v1/containers", "POST"), (update, "/v1/containers/{id}", "PUT")] {
                XCTAssertEqual(reply.status, 400, "\(method) \(bad): \(reply.text)")
                try checks.check(reply, path: path, method: method)
                let errors = try reply.json()["errors"] as? [[String: Any]] ?? []
                XCTAssertEqual(errors.map { $0["field"] as? String }, ["protocol"], "\(method) \(bad)")
                let message = errors.first?["message"] as? String ?? ""
                XCTAssertTrue(message.hasPrefix(#"must be "http1" or "h2c""#), message)
                XCTAssertFalse(message.contains("\n"), "one line: \(message)")
            }
        }
        XCTAssertEqual(try api.database.containerCount(), 1)
        XCTAssertEqual(try api.database.revisions(containerID: id).count, 1)
    }

    // MARK: - The document

    func testTheDocumentDescribesTheField() throws {
        let validator = checks.validator
        let create = try XCTUnwrap(validator.resolve(reference: "#/components/schemas/CreateContainerRequest"))
        XCTAssertEqual(create["properties"]?["protocol"]?["default"], .string("http1"))
        let schema = try XCTUnwrap(validator.resolve(reference: "#/components/schemas/ServingProtocol"))
        XCTAssertEqual(schema["enum"], .array(ServingProtocol.allCases.map { .string($0.rawValue) }))
        for name in ["Container", "Revision"] {
            let object = try XCTUnwrap(validator.resolve(reference: "#/components/schemas/\(name)"))
            XCTAssertTrue(object["required"]?.arrayValue?.contains(.string("protocol")) ?? false, name)
        }
        let container = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(OpenAPIDocumentTests.container.utf8)) as? [String: Any])
        func mismatches(_ change: (inout [String: Any]) -> Void, _ schema: String = "Container") throws -> [String]? {
            var object = container
            change(&object)
            do {
                try validator.validate(try JSONSerialization.data(withJSONObject: object), schemaNamed: schema)
                return nil
            } catch let error as OpenAPIValidator.ValidationError {
                return error.mismatches.map(\.pointer)
            }
        }
        XCTAssertNil(try mismatches { $0["protocol"] = "h2c" })
        XCTAssertEqual(try mismatches { $0["protocol"] = "h2" }, ["/protocol"])
        XCTAssertEqual(try mismatches { $0["protocol"] = nil }, [""])
        XCTAssertNoThrow(try validator.validate(Data(#"{"protocol":"h2c"}"#.utf8), schemaNamed: "UpdateContainerRequest"))
        XCTAssertThrowsError(try validator.validate(Data(#"{"protocol":"HTTP2"}"#.utf8), schemaNamed: "UpdateContainerRequest"))
    }
}

import Foundation
import NodeTestSupport
import XCTest

/// Checks real responses against the OpenAPI document the API serves.
final class OpenAPIChecks: Sendable {
    static let shared = OpenAPIChecks()
    let validator: OpenAPIValidator

    private init() {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/API/openapi.json").standardized
        validator = try! OpenAPIValidator(documentData: try! Data(contentsOf: url))
    }

    func check(_ reply: NodeFixture.Reply, path: String, method: String, file: StaticString = #filePath, line: UInt = #line) throws {
        do {
            try validator.validateResponse(path: path, method: method, status: reply.status, body: reply.body,
                                           contentType: reply.headers["content-type"])
        } catch {
            XCTFail("\(method) \(path) \(reply.status) does not match the OpenAPI document: \(error)", file: file, line: line)
        }
    }
}

import Foundation
import HTTPTypes
import NodeTestSupport
import XCTest

/// Checks real responses, from a node or from the in-process router, against the OpenAPI
/// document the API serves.
final class OpenAPIChecks: Sendable {
    static let shared = OpenAPIChecks()
    let validator: OpenAPIValidator

    private init() {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/API/openapi.json").standardized
        validator = try! OpenAPIValidator(documentData: try! Data(contentsOf: url))
    }

    func check(_ reply: NodeFixture.Reply, path: String, method: String, file: StaticString = #filePath, line: UInt = #line) throws {
        check(status: reply.status, body: reply.body, contentType: reply.headers["content-type"], path: path, method: method,
              file: file, line: line)
    }

    func check(_ reply: InProcessReply, path: String, method: String, file: StaticString = #filePath, line: UInt = #line) throws {
        check(status: reply.status, body: reply.body, contentType: reply.headers[.contentType], path: path, method: method,
              file: file, line: line)
    }

    /// For `InProcessAPI.request`'s replies, whose body is already parsed: checked as re-encoded.
    func check(_ reply: (status: Int, headers: HTTPFields, body: [String: Any]), path: String, method: String,
               file: StaticString = #filePath, line: UInt = #line) throws {
        check(status: reply.status, body: try JSONSerialization.data(withJSONObject: reply.body),
              contentType: reply.headers[.contentType], path: path, method: method, file: file, line: line)
    }

    private func check(status: Int, body: Data, contentType: String?, path: String, method: String,
                       file: StaticString, line: UInt) {
        do {
            try validator.validateResponse(path: path, method: method, status: status, body: body, contentType: contentType)
        } catch {
            XCTFail("\(method) \(path) \(status) does not match the OpenAPI document: \(error)", file: file, line: line)
        }
    }
}

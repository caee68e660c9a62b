import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension Response {
    /// A JSON body with the API's encoder.
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        let data = try JSON.encoder.encode(value)
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func problem(_ problem: Problem, requestID: String, headers: HTTPFields = [:]) -> Response {
        var problem = problem
        problem.requestId = requestID
        let data = (try? JSON.encoder.encode(problem)) ?? Data()
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: .init(code: problem.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

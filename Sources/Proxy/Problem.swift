import NIOCore
import NIOHTTP1

/// The proxy's own error responses: `application/problem+json` (RFC 9457) with fixed wording, so
/// nothing about upstream addresses or internal failures reaches the client.
enum Problem: Equatable, Sendable {
    case badRequest
    case notFound
    case methodNotAllowed
    case requestTimeout
    case expectationFailed
    case badGateway
    case serviceUnavailable
    case gatewayTimeout
    case notImplemented

    var status: HTTPResponseStatus {
        switch self {
        case .badRequest: return .badRequest
        case .notFound: return .notFound
        case .methodNotAllowed: return .methodNotAllowed
        case .requestTimeout: return .requestTimeout
        case .expectationFailed: return .expectationFailed
        case .badGateway: return .badGateway
        case .serviceUnavailable: return .serviceUnavailable
        case .gatewayTimeout: return .gatewayTimeout
        case .notImplemented: return .notImplemented
        }
    }

    var title: String {
        switch self {
        case .badRequest: return "Bad Request"
        case .notFound: return "Not Found"
        case .methodNotAllowed: return "Method Not Allowed"
        case .requestTimeout: return "Request Timeout"
        case .expectationFailed: return "Expectation Failed"
        case .badGateway: return "Bad Gateway"
        case .serviceUnavailable: return "Service Unavailable"
        case .gatewayTimeout: return "Gateway Timeout"
        case .notImplemented: return "Not Implemented"
        }
    }

    var detail: String {
        switch self {
        case .badRequest: return "The request is malformed, has no usable Host header, or a request target that is not an http:// URL or a path."
        case .notFound: return "No service is reachable under this host name."
        case .methodNotAllowed: return "CONNECT is not supported."
        case .requestTimeout: return "The request did not arrive in time."
        case .expectationFailed: return "Only the 100-continue expectation is supported."
        case .badGateway: return "The service failed to answer the request."
        case .serviceUnavailable: return "The service is not ready; retry shortly."
        case .gatewayTimeout: return "The service did not answer in time."
        case .notImplemented: return "Only the chunked transfer coding is supported."
        }
    }

    var body: String {
        #"{"type":"about:blank","title":"\#(title)","status":\#(status.code),"detail":"\#(detail)"}"#
    }

    func responseHead(keepAlive: Bool) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(5)
        headers.add(name: "content-type", value: "application/problem+json")
        headers.add(name: "content-length", value: String(body.utf8.count))
        headers.add(name: "cache-control", value: "no-store")
        if self == .serviceUnavailable { headers.add(name: "retry-after", value: "1") }
        headers.add(name: "connection", value: keepAlive ? "keep-alive" : "close")
        return HTTPResponseHead(version: .http1_1, status: status, headers: headers)
    }

    func bodyBuffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        allocator.buffer(string: body)
    }
}

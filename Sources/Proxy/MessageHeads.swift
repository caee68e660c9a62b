import NIOCore
import NIOHTTP1

// The heads the proxy carries from one peer to the other: NIO's types, but for their fields,
// which are `HeadFields`, so that an HTTP/1 peer's lines reach an HTTP/1 peer as they came.

/// A request head on its way from a client to an upstream.
struct RequestHead: Equatable {
    var version: HTTPVersion
    var method: HTTPMethod
    var uri: String
    var fields: HeadFields

    init(version: HTTPVersion, method: HTTPMethod, uri: String, fields: HeadFields = HeadFields()) {
        self.version = version
        self.method = method
        self.uri = uri
        self.fields = fields
    }

    init(_ head: HTTPRequestHead) {
        self.init(version: head.version, method: head.method, uri: head.uri, fields: HeadFields(head.headers))
    }

    var headers: HTTPHeaders { fields.headers }

    /// As NIO's type, for an HTTP/2 stream's codec.
    var typed: HTTPRequestHead {
        HTTPRequestHead(version: version, method: method, uri: uri, headers: fields.headers)
    }
}

/// A part of a client's request, as the state machine holds it.
typealias RequestPart = HTTPPart<RequestHead, ByteBuffer>

extension HTTPPart {
    /// The same part with its head converted, between NIO's heads (an HTTP/2 stream's codec
    /// reads and writes those) and the proxy's; a body part and the end as they are.
    func mapHead<NewHead>(_ transform: (HeadT) -> NewHead) -> HTTPPart<NewHead, BodyT> {
        switch self {
        case .head(let head): .head(transform(head))
        case .body(let body): .body(body)
        case .end(let trailers): .end(trailers)
        }
    }
}

/// A response head on its way from an upstream to a client: its fields as `HeadFields`, so that
/// an HTTP/1 upstream's lines reach an HTTP/1 client as they came.
struct ResponseHead: Equatable {
    var version: HTTPVersion
    var status: HTTPResponseStatus
    var fields: HeadFields

    init(version: HTTPVersion, status: HTTPResponseStatus, fields: HeadFields = HeadFields()) {
        self.version = version
        self.status = status
        self.fields = fields
    }

    init(_ head: HTTPResponseHead) {
        self.init(version: head.version, status: head.status, fields: HeadFields(head.headers))
    }

    var headers: HTTPHeaders { fields.headers }

    /// As NIO's type, for an HTTP/2 stream's codec.
    var typed: HTTPResponseHead {
        HTTPResponseHead(version: version, status: status, headers: fields.headers)
    }
}

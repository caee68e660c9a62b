import NIOHTTP1

@testable import Proxy

// The proxy carries heads as `RequestHead` and `ResponseHead`; tests write them as NIO's types.

extension ProxyConnectionState {
    mutating func responseHead(_ head: HTTPResponseHead) -> Action {
        responseHead(ResponseHead(head))
    }
}

extension HeaderRewriter {
    static func clientResponseHead(_ head: HTTPResponseHead, for request: RequestInfo, keepAlive: Bool) -> (head: ResponseHead, keepAlive: Bool) {
        clientResponseHead(ResponseHead(head), for: request, keepAlive: keepAlive)
    }
}

extension RequestInfo {
    convenience init(_ head: HTTPRequestHead) {
        self.init(RequestHead(head))
    }
}

extension ProxyConnectionState {
    mutating func requestHead(_ head: HTTPRequestHead) -> Action {
        requestHead(RequestHead(head))
    }
}

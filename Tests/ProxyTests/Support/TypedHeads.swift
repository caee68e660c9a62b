import NIOHTTP1

@testable import Proxy

// The proxy carries response heads as `ResponseHead`; tests write them as NIO's type.

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

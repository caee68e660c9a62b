import NIOHTTP1

/// One upstream connection's protocol logic: whether it may carry another request. It may only
/// when the request was sent whole, the response was read whole, and neither side asked to close.
struct UpstreamConnectionState: Equatable {
    enum State: Equatable {
        case idle
        case active(requestEnded: Bool, response: ResponseProgress, keepAlive: Bool)
        case closed
    }

    enum ResponseProgress: Equatable {
        case awaitingHead
        case body
        case complete
        case upgraded
    }

    private(set) var state: State = .idle
    /// Exchanges started on this connection; a failure on a reused one may be retried.
    private(set) var exchanges = 0

    var isReused: Bool { exchanges > 1 }

    /// Ready for the next request now.
    var isReusable: Bool {
        switch state {
        case .idle: return true
        case .active(let requestEnded, let response, let keepAlive):
            return requestEnded && response == .complete && keepAlive
        case .closed: return false
        }
    }

    mutating func requestHeadSent() {
        guard state != .closed else { return }
        exchanges += 1
        state = .active(requestEnded: false, response: .awaitingHead, keepAlive: true)
    }

    mutating func requestEndSent() {
        guard case .active(_, let response, let keepAlive) = state else { return }
        state = .active(requestEnded: true, response: response, keepAlive: keepAlive)
    }

    /// `keepAlive`: what the response says of the connection (`HTTP1ResponseParser`).
    mutating func responseHeadReceived(status: UInt, keepAlive: Bool) {
        guard case .active(let requestEnded, _, let wasKeepAlive) = state else { return }
        let upgraded = status == 101
        state = .active(
            requestEnded: requestEnded,
            response: upgraded ? .upgraded : .body,
            keepAlive: wasKeepAlive && !upgraded && keepAlive
        )
    }

    mutating func responseEndReceived() {
        guard case .active(let requestEnded, let response, let keepAlive) = state, response == .body else { return }
        state = .active(requestEnded: requestEnded, response: .complete, keepAlive: keepAlive)
    }

    /// Back to the pool (true) or to be closed (false).
    mutating func release() -> Bool {
        if isReusable {
            state = .idle
            return true
        }
        state = .closed
        return false
    }

    mutating func closed() {
        state = .closed
    }
}

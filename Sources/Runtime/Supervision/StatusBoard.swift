import Synchronization

/// The latest status of every revision, readable without waiting on any supervisor (the proxy
/// looks routes up here on every request), and a stream of changes for whoever waits on one.
final class StatusBoard: Sendable {
    private struct State {
        var statuses: [String: RuntimeStatus] = [:]
        var watchers: [Int: AsyncStream<(String, RuntimeStatus)>.Continuation] = [:]
        var nextWatcher = 0
    }

    private let state = Mutex(State())

    subscript(runtimeID: String) -> RuntimeStatus? {
        state.withLock { $0.statuses[runtimeID] }
    }

    var all: [String: RuntimeStatus] {
        state.withLock { $0.statuses }
    }

    func publish(_ runtimeID: String, _ status: RuntimeStatus) {
        let watchers = state.withLock { state in
            if status.phase == .deleted {
                state.statuses[runtimeID] = nil
            } else {
                state.statuses[runtimeID] = status
            }
            return Array(state.watchers.values)
        }
        for watcher in watchers { watcher.yield((runtimeID, status)) }
    }

    /// Every change from now on, until the consumer stops iterating.
    func changes() -> AsyncStream<(String, RuntimeStatus)> {
        let (stream, continuation) = AsyncStream.makeStream(of: (String, RuntimeStatus).self)
        let id = state.withLock { state in
            state.nextWatcher += 1
            state.watchers[state.nextWatcher] = continuation
            return state.nextWatcher
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.watchers.removeValue(forKey: id) }
        }
        return stream
    }
}

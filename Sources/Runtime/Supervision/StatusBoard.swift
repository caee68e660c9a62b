import Foundation
import Synchronization

/// The latest status of every revision, readable without waiting on any supervisor (the proxy
/// looks routes up here on every request), and a stream of changes for whoever waits on one.
final class StatusBoard: Sendable {
    private struct State {
        var statuses: [String: RuntimeStatus] = [:]
        /// Runtime ids by Berth container id: a container's instances without a scan.
        var byContainer: [String: Set<String>] = [:]
        /// Counts publishes.
        var version: UInt64 = 0
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

    /// Every revision and instance of one Berth container, by runtime id.
    func statuses(ofContainer containerID: String) -> [String: RuntimeStatus] {
        state.withLock { state in
            var found: [String: RuntimeStatus] = [:]
            for id in state.byContainer[containerID] ?? [] { found[id] = state.statuses[id] }
            return found
        }
    }

    var version: UInt64 { state.withLock { $0.version } }

    func publish(_ runtimeID: String, _ status: RuntimeStatus) {
        var status = status
        let watchers = state.withLock { state in
            let previous = state.statuses[runtimeID]
            status.since = previous?.phase == status.phase ? previous?.since : Date()
            state.version &+= 1
            let containerID = RevisionDeployment.parse(runtimeID)?.containerID ?? runtimeID
            if status.phase == .deleted {
                state.statuses[runtimeID] = nil
                state.byContainer[containerID]?.remove(runtimeID)
                if state.byContainer[containerID]?.isEmpty == true { state.byContainer[containerID] = nil }
            } else {
                state.statuses[runtimeID] = status
                state.byContainer[containerID, default: []].insert(runtimeID)
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

import NIOCore
import Synchronization

/// The open client connections: admission against the connection caps at accept, and graceful
/// shutdown (quiesce them all, then wait until the last one has closed). A connection is counted
/// from `admit` until its close future completes, which every close path completes.
final class ConnectionRegistry: Sendable {
    enum Admission: Equatable {
        case admitted(quiescing: Bool)
        /// Over `maxConnections`.
        case refusedGlobal
        /// Over `maxConnectionsPerClient` for the peer's address (its /64 for IPv6).
        case refusedPerClient
    }

    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var perClient: [IPAddress: Int] = [:]
        var quiescing = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let maxConnections: Int
    private let maxPerClient: Int

    init(maxConnections: Int = .max, maxPerClient: Int = .max) {
        self.maxConnections = maxConnections
        self.maxPerClient = maxPerClient
    }

    var count: Int { state.withLock { $0.channels.count } }

    func count(for client: IPAddress) -> Int { state.withLock { $0.perClient[client.clientKey] ?? 0 } }

    /// Counts the connection in, or refuses it (nothing counted) when a cap is reached.
    func admit(_ channel: any Channel, client: IPAddress?) -> Admission {
        let id = ObjectIdentifier(channel)
        let key = client?.clientKey
        let admission = state.withLock { state -> Admission in
            if state.channels.count >= maxConnections { return .refusedGlobal }
            if let key {
                let current = state.perClient[key] ?? 0
                if current >= maxPerClient { return .refusedPerClient }
                state.perClient[key] = current + 1
            }
            state.channels[id] = channel
            return .admitted(quiescing: state.quiescing)
        }
        guard case .admitted = admission else { return admission }
        channel.closeFuture.whenComplete { _ in self.release(id, key) }
        return admission
    }

    private func release(_ id: ObjectIdentifier, _ key: IPAddress?) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.channels[id] = nil
            if let key, let current = state.perClient[key] {
                state.perClient[key] = current > 1 ? current - 1 : nil
            }
            guard state.channels.isEmpty else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    /// Asks every connection to finish its current exchange and close.
    func quiesce() {
        let channels = state.withLock { state in
            state.quiescing = true
            return Array(state.channels.values)
        }
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    func closeAll() {
        let channels = state.withLock { Array($0.channels.values) }
        for channel in channels { channel.close(promise: nil) }
    }

    func waitUntilEmpty() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state in
                if state.channels.isEmpty { return true }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }
}

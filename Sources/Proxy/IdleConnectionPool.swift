import NIOCore

/// Idle keep-alive connections per upstream, for one event loop: the most recently used is
/// reused first (so surplus ones age out), at most `maxPerUpstream` are kept, and none older
/// than `idleTimeout`. `forget` retires an upstream: connections to it that are in use when
/// it is called are closed instead of pooled on release.
struct IdleConnectionPool<Connection: AnyObject> {
    private struct Entry {
        let connection: Connection
        let since: NIODeadline
    }

    let maxPerUpstream: Int
    let idleTimeout: TimeAmount
    private var idle: [Upstream: [Entry]] = [:]
    private var epochs: [Upstream: Int] = [:]

    init(maxPerUpstream: Int, idleTimeout: TimeAmount) {
        self.maxPerUpstream = maxPerUpstream
        self.idleTimeout = idleTimeout
    }

    var count: Int { idle.values.reduce(0) { $0 + $1.count } }

    func count(for upstream: Upstream) -> Int { idle[upstream]?.count ?? 0 }

    /// The epoch a new connection to `upstream` is created in; compared again on release.
    func epoch(of upstream: Upstream) -> Int {
        epochs.isEmpty ? 0 : epochs[upstream, default: 0]
    }

    /// The most recently pooled live connection, and the expired ones (to close). Arrays are
    /// mutated in place and kept when empty: a keep-alive request costs no allocation here, and
    /// one hash of the upstream (an index, not a lookup per step: this runs for every request).
    mutating func acquire(_ upstream: Upstream, now: NIODeadline) -> (connection: Connection?, expired: [Connection]) {
        guard let index = idle.index(forKey: upstream), let last = idle.values[index].last else { return (nil, []) }
        guard last.since + idleTimeout > now else {
            // Entries are in release order: if the newest expired, they all did.
            let all = idle.values[index].map(\.connection)
            idle.values[index].removeAll(keepingCapacity: true)
            return (nil, all)
        }
        idle.values[index].removeLast()
        return (last.connection, [])
    }

    /// Pools a connection that finished an exchange; returns the one to close instead, if any.
    mutating func release(_ connection: Connection, to upstream: Upstream, epoch: Int, now: NIODeadline) -> Connection? {
        guard epoch == self.epoch(of: upstream), maxPerUpstream > 0 else { return connection }
        let entry = Entry(connection: connection, since: now)
        guard let index = idle.index(forKey: upstream) else {
            idle[upstream] = [entry]
            return nil
        }
        var evicted: Connection? = nil
        if idle.values[index].count >= maxPerUpstream {
            evicted = idle.values[index].removeFirst().connection
        }
        idle.values[index].append(entry)
        return evicted
    }

    /// A pooled connection closed by its upstream.
    mutating func remove(_ connection: Connection, from upstream: Upstream) {
        guard var entries = idle[upstream], let index = entries.firstIndex(where: { $0.connection === connection }) else {
            return
        }
        entries.remove(at: index)
        idle[upstream] = entries
    }

    /// Removes and returns the connections idle for `idleTimeout` or longer.
    mutating func expire(now: NIODeadline) -> [Connection] {
        var expired: [Connection] = []
        for (upstream, entries) in idle {
            let live = entries.filter { $0.since + idleTimeout > now }
            guard live.count != entries.count || entries.isEmpty else { continue }
            expired += entries.filter { $0.since + idleTimeout <= now }.map(\.connection)
            // Upstreams nobody used for a whole timeout lose their slot.
            idle[upstream] = live.isEmpty ? nil : live
        }
        return expired
    }

    /// Retires an upstream: returns its idle connections (to close); later releases are refused.
    mutating func forget(_ upstream: Upstream) -> [Connection] {
        epochs[upstream, default: 0] += 1
        return idle.removeValue(forKey: upstream)?.map(\.connection) ?? []
    }

    mutating func removeAll() -> [Connection] {
        defer { idle.removeAll() }
        return idle.values.flatMap { $0.map(\.connection) }
    }
}

/// Which containers are being converged, which need another pass, and which wait to retry a
/// failed one. A value type with one mutating function per event, so the rules (one pass per
/// container at a time, a request during a pass queues exactly one more, a failure backs off
/// exponentially and a success forgets it) are tested directly.
struct ConvergeQueue: Sendable {
    struct Entry: Sendable, Equatable {
        var busy = false
        var dirty = false
        var failures = 0
        var retryAt: ContinuousClock.Instant?
    }

    /// The first retry waits this long; each further failure doubles it, up to `maximumDelay`.
    var initialDelay: Duration = .milliseconds(500)
    var maximumDelay: Duration = .seconds(30)
    private(set) var entries: [String: Entry] = [:]

    /// A pass over the container was asked for: true when the caller must start one now; false
    /// when one runs (it will run once more after it ends).
    mutating func request(_ id: String) -> Bool {
        var entry = entries[id, default: Entry()]
        defer { entries[id] = entry }
        if entry.busy {
            entry.dirty = true
            return false
        }
        entry.busy = true
        entry.retryAt = nil
        return true
    }

    /// A pass ended. Returns true when another pass must run at once (asked for meanwhile);
    /// otherwise the container is idle, with a retry scheduled after a failure.
    mutating func finished(_ id: String, succeeded: Bool, now: ContinuousClock.Instant) -> (again: Bool, retryIn: Duration?) {
        var entry = entries[id, default: Entry()]
        var retryIn: Duration?
        if succeeded {
            entry.failures = 0
        } else {
            entry.failures += 1
            retryIn = delay(afterFailures: entry.failures)
        }
        if entry.dirty {
            entry.dirty = false
            entries[id] = entry
            return (true, retryIn)
        }
        entry.busy = false
        entry.retryAt = retryIn.map { now + $0 }
        if entry.failures == 0 {
            entries[id] = nil
        } else {
            entries[id] = entry
        }
        return (false, retryIn)
    }

    /// Containers whose retry is due: each is handed out once (the retry clears it).
    mutating func due(now: ContinuousClock.Instant) -> [String] {
        var ids: [String] = []
        for (id, entry) in entries where !entry.busy {
            if let at = entry.retryAt, at <= now {
                ids.append(id)
                entries[id]?.retryAt = nil
            }
        }
        return ids.sorted()
    }

    /// The container is gone for good: forget its failures.
    mutating func forget(_ id: String) {
        if entries[id]?.busy != true { entries[id] = nil }
    }

    private func delay(afterFailures failures: Int) -> Duration {
        var delay = initialDelay
        for _ in 1..<max(failures, 1) {
            delay *= 2
            if delay >= maximumDelay { return maximumDelay }
        }
        return min(delay, maximumDelay)
    }
}

import Proxy

/// Which instance of one container a request goes to, and who waits when all are busy. A value
/// type with one mutating function per event; the traffic controller carries out what they
/// return (resumes the waiters handed an instance).
///
/// The rules: a request goes to the ready instance with the fewest requests in flight among
/// those under `concurrency` (0: no limit); when none is under it, the request waits in a FIFO
/// queue of at most `queueLimit`, or is refused when the queue is full; a slot that frees, or an
/// instance that becomes ready, goes to the longest waiter first. The slot is taken when the
/// instance is chosen (`arrive`, or a hand-over) and given back by `finished`, so no instance
/// ever holds more than `concurrency`, whoever asks at the same time.
struct DispatchState: Sendable {
    typealias WaiterID = UInt64

    struct Instance: Sendable, Equatable {
        var upstream: Upstream
        var inFlight = 0
        /// Takes new requests: ready, of the serving revision, and not being drained.
        var eligible = true
    }

    enum Arrival: Equatable, Sendable {
        /// Sent to this instance; its slot is the request's until `finished`.
        case send(Upstream)
        /// Queued: `handOver` results resume it.
        case wait
        /// The queue is full.
        case refuse
    }

    /// A queued request and the instance it now holds a slot of.
    typealias HandOver = (waiter: WaiterID, upstream: Upstream)

    var concurrency: Int
    var queueLimit: Int
    /// By runtime id: the ready instances, and those that left the ready set with requests still
    /// in flight (kept until those finish).
    private(set) var instances: [String: Instance] = [:]
    private(set) var queue: [WaiterID] = []
    /// Runtime ids being drained: never eligible again.
    private(set) var draining: Set<String> = []

    init(concurrency: Int, queueLimit: Int) {
        self.concurrency = concurrency
        self.queueLimit = queueLimit
    }

    var inFlight: Int { instances.values.reduce(0) { $0 + $1.inFlight } }
    var queued: Int { queue.count }
    var readyCount: Int { instances.values.filter(\.eligible).count }
    var isUnused: Bool { queue.isEmpty && instances.values.allSatisfy { $0.inFlight == 0 } }

    func inFlight(_ runtimeID: String) -> Int { instances[runtimeID]?.inFlight ?? 0 }

    /// The instances that take requests now (by runtime id), with the serving revision's
    /// concurrency; an instance no longer among them keeps its count until its requests end.
    mutating func update(ready: [String: Upstream], concurrency: Int) -> [HandOver] {
        self.concurrency = concurrency
        for (id, upstream) in ready where !draining.contains(id) {
            if instances[id] == nil || instances[id]!.upstream != upstream {
                instances[id] = Instance(upstream: upstream, inFlight: instances[id]?.inFlight ?? 0)
            }
            instances[id]!.eligible = true
            instances[id]!.upstream.responseTimeout = upstream.responseTimeout
        }
        for id in Array(instances.keys) where ready[id] == nil || draining.contains(id) {
            instances[id]!.eligible = false
            if instances[id]!.inFlight == 0 { instances[id] = nil }
        }
        return handOverFreeSlots()
    }

    mutating func arrive(_ waiter: WaiterID) -> Arrival {
        if let now = arriveWithoutWaiting() { return now }
        queue.append(waiter)
        return .wait
    }

    /// `arrive` for a request that must not wait: sent or refused as `arrive` would, nil (and
    /// nothing queued) where it would wait.
    mutating func arriveWithoutWaiting() -> Arrival? {
        if queue.isEmpty, let id = leastBusy() {
            instances[id]!.inFlight += 1
            return .send(instances[id]!.upstream)
        }
        return queue.count < queueLimit ? nil : .refuse
    }

    /// A request to the instance ended (or its slot was not used): the slot goes to a waiter.
    mutating func finished(_ runtimeID: String) -> [HandOver] {
        guard var instance = instances[runtimeID] else { return [] }
        instance.inFlight = max(0, instance.inFlight - 1)
        instances[runtimeID] = instance.inFlight == 0 && !instance.eligible ? nil : instance
        return handOverFreeSlots()
    }

    /// The waiter gave up (its deadline passed): true when it was still queued.
    mutating func abandon(_ waiter: WaiterID) -> Bool {
        guard let index = queue.firstIndex(of: waiter) else { return false }
        queue.remove(at: index)
        return true
    }

    /// The instance is being retired: it takes no new request.
    mutating func drain(_ runtimeID: String) {
        draining.insert(runtimeID)
        instances[runtimeID]?.eligible = false
        if instances[runtimeID]?.inFlight == 0 { instances[runtimeID] = nil }
    }

    /// A drained instance is gone; its id may be used again (a later scale-up).
    mutating func drained(_ runtimeID: String) {
        draining.remove(runtimeID)
    }

    private func hasRoom(_ instance: Instance) -> Bool {
        instance.eligible && (concurrency == 0 || instance.inFlight < concurrency)
    }

    /// The eligible instance with room and the fewest requests in flight; ties go to the lowest
    /// id, so that the first instance (the one that scales to zero) is preferred.
    private func leastBusy() -> String? {
        instances.filter { hasRoom($0.value) }
            .min { ($0.value.inFlight, $0.key) < ($1.value.inFlight, $1.key) }?.key
    }

    private mutating func handOverFreeSlots() -> [HandOver] {
        var handed: [HandOver] = []
        while !queue.isEmpty, let id = leastBusy() {
            instances[id]!.inFlight += 1
            handed.append((queue.removeFirst(), instances[id]!.upstream))
        }
        return handed
    }
}

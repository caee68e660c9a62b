import BerthModel
import GRDB

// What counts as reserved: every container in the store (stopped, idle, failing and deleting
// ones included: the node must be able to wake or restart each of them, and a deleting one runs
// until it is stopped) reserves, per resource, the larger of its serving revision's request and,
// during a rollout, its pending latest revision's. Both revisions run side by side for the length
// of a rollout; counting the larger rather than the sum means an update that grows nothing is
// never refused on a full node, as with Kubernetes' surge of one pod. Retired and failed
// revisions run nothing and reserve nothing. A revision's request is one instance's times the
// instances that always run (`minInstances`, at least one); instances the autoscaler adds above
// that take what is left unreserved when they start, and wait when nothing is.

extension BerthDatabase {
    /// The limits creates and updates are checked against; unlimited until set.
    public var capacityPolicy: CapacityPolicy { capacity.withLock { $0 } }

    /// Replaces the limits; checks from the next write on use them.
    public func setCapacityPolicy(_ policy: CapacityPolicy) {
        capacity.withLock { $0 = policy }
    }

    /// The sum of what every container reserves (of one owner's, when given).
    public func reserved(owner: String? = nil) throws -> ResourceAmounts {
        try writer.read { db in
            try Self.reservations(db).values.filter { owner == nil || $0.owner == owner }
                .reduce(ResourceAmounts()) { $0 + $1.reserved }
        }
    }

    struct Reservation {
        var owner: String
        /// The serving revision's request.
        var serving = ResourceAmounts()
        /// The larger of the serving and the pending latest revision's.
        var reserved = ResourceAmounts()
    }

    /// By container id.
    static func reservations(_ db: Database) throws -> [String: Reservation] {
        let rows = try Row.fetchCursor(db, sql: """
            SELECT c.id, c.owner, r.number = c.revision, r.cpu, r.memory, r.ephemeralStorage, r.gpu, MAX(1, r.minInstances)
            FROM container c JOIN revision r ON r.containerID = c.id
                AND (r.number = c.revision OR (r.number = c.latestRevision AND r.phase = 'pending'))
            """)
        var result: [String: Reservation] = [:]
        while let row = try rows.next() {
            let id: String = try row.decode(atIndex: 0)
            let amounts = ResourceAmounts(
                milliCPU: ResourceAmounts.milliCPU(try row.decode(atIndex: 3)),
                ram: try StoredSpec.quantity(try row.decode(atIndex: 4)).bytes,
                ephemeralStorage: try StoredSpec.quantity(try row.decode(atIndex: 5)).bytes,
                gpu: try row.decode(atIndex: 6)).times(try row.decode(atIndex: 7))
            let owner: String = try row.decode(atIndex: 1)
            var reservation = result[id] ?? Reservation(owner: owner)
            let isServing: Bool = try row.decode(atIndex: 2)
            if isServing { reservation.serving = amounts }
            reservation.reserved = reservation.reserved.maximum(amounts)
            result[id] = reservation
        }
        // A volume reserves its whole size of ephemeral storage for as long as it exists: its
        // image is sparse, but a writer may fill it at any time.
        for row in try Row.fetchAll(db, sql: "SELECT id, owner, size FROM volume") {
            let amounts = ResourceAmounts(ephemeralStorage: try StoredSpec.quantity(row[2]).bytes)
            result["volume:" + (row[0] as String)] = Reservation(owner: row[1], serving: amounts, reserved: amounts)
        }
        return result
    }

    /// Throws `.overCapacity` when reserving `amounts` more (a new volume) would take the owner
    /// past their quota or the node past its capacity.
    static func checkCapacity(_ db: Database, policy: CapacityPolicy, owner: String, adding amounts: ResourceAmounts) throws {
        let quota = policy.quota(of: owner)
        if policy.node.isUnlimited && quota.isUnlimited { return }
        let all = Array(try reservations(db).values)
        if let short = shortfall(quota, .owner(owner), all.filter { $0.owner == owner }, before: ResourceAmounts(), after: amounts) {
            throw StoreError.overCapacity(short)
        }
        if let short = shortfall(policy.node, .node, all, before: ResourceAmounts(), after: amounts) {
            throw StoreError.overCapacity(short)
        }
    }

    /// What `limits` lack for reserving `after` in place of `before` beside `reservations`;
    /// nil when they hold it. A resource that does not grow is never short.
    static func shortfall(_ limits: ResourceLimits, _ scope: CapacityShortfall.Scope, _ reservations: [Reservation],
                          before: ResourceAmounts, after: ResourceAmounts) -> CapacityShortfall? {
        let used = reservations.reduce(ResourceAmounts()) { $0 + $1.reserved }
        let items = ReservedResource.allCases.compactMap { resource -> CapacityShortfall.Item? in
            guard let limit = limits.bounds[resource], after[resource] > before[resource],
                  used[resource] + after[resource] > limit else { return nil }
            return .init(resource: resource, asked: after[resource], available: max(0, limit - used[resource]), limit: limit)
        }
        return items.isEmpty ? nil : CapacityShortfall(scope: scope, items: items)
    }

    /// Throws `.overCapacity` when recording `spec` (as a new container, or as the next revision
    /// of `containerID`) would take the owner past their quota or the node past its capacity.
    /// A resource the change does not grow is never refused, even on a node already past its
    /// limit (after the operator lowered it). Run inside the write transaction that records the
    /// revision: writes are serialised, so two changes cannot both take the last of something.
    static func checkCapacity(_ db: Database, policy: CapacityPolicy, owner: String, containerID: String?,
                              spec: RevisionSpec) throws {
        let quota = policy.quota(of: owner)
        if policy.node.isUnlimited && quota.isUnlimited { return }
        let all = try reservations(db)
        let current = containerID.flatMap { all[$0] }
        let before = current?.reserved ?? ResourceAmounts()
        // The new revision runs beside the serving one until it replaces it (and any older
        // pending one, which it supersedes).
        let after = (current?.serving ?? ResourceAmounts()).maximum(ResourceAmounts(spec))
        let others = all.filter { $0.key != containerID }.map(\.value)

        // The owner's own limit first: it is the one the caller can do something about.
        if let short = shortfall(quota, .owner(owner), others.filter { $0.owner == owner }, before: before, after: after) {
            throw StoreError.overCapacity(short)
        }
        if let short = shortfall(policy.node, .node, others, before: before, after: after) {
            throw StoreError.overCapacity(short)
        }
    }
}

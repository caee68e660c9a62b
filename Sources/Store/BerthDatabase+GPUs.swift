import BerthModel
import Foundation
import GRDB

extension BerthDatabase {
    /// Records allocations of the devices to the revision, all or nothing: a device already held
    /// by another container or revision throws `.gpuTaken` with those devices and writes nothing.
    /// Devices the same revision already holds are kept, so a retry after a crash succeeds.
    public func allocateGPUs(_ deviceIDs: [String], containerID: String, revision: Int) throws {
        var seen = Set<String>()
        let devices = deviceIDs.filter { seen.insert($0).inserted }
        try change { db in
            let container = try Self.existingContainer(db, containerID)
            if container.phase == .deleting { throw StoreError.deleting(containerID) }
            try Self.requireRevision(db, containerID, revision)
            guard !devices.isEmpty else { return }
            let held = try GPUAllocation.filter(keys: devices).fetchAll(db)
            let taken = held.filter { $0.containerID != containerID || $0.revision != revision || $0.instance != 0 }.map(\.deviceID)
            if !taken.isEmpty { throw StoreError.gpuTaken(taken.sorted()) }
            let alreadyOurs = Set(held.map(\.deviceID))
            for device in devices where !alreadyOurs.contains(device) {
                try GPUAllocation(deviceID: device, containerID: containerID, revision: revision).insert(db)
            }
        }
    }

    /// Releases the devices held by one instance of one revision of the container (the first,
    /// unless told), or by all of its revisions and instances when `revision` is nil. Releasing
    /// nothing is not an error.
    public func releaseGPUs(containerID: String, revision: Int?, instance: Int = 0) throws {
        try change { db in
            var request = GPUAllocation.filter(Column("containerID") == containerID)
            if let revision { request = request.filter(Column("revision") == revision && Column("instance") == instance) }
            try request.deleteAll(db)
        }
    }

    /// The devices of an instance above the first: those it holds already (a restart, a retry),
    /// or `chooser`'s pick among the free ones, recorded in the same transaction. Throws what
    /// the chooser throws when too few are free, and writes nothing then.
    public func allocateInstanceGPUs(containerID: String, revision: Int, instance: Int,
                                     choosing chooser: @escaping GPUChooser) throws -> [String] {
        try change { db in
            let container = try Self.existingContainer(db, containerID)
            if container.phase == .deleting { throw StoreError.deleting(containerID) }
            try Self.requireRevision(db, containerID, revision)
            let held = try Self.instanceDevices(db, containerID, revision, instance)
            if !held.isEmpty { return held }
            let taken = Set(try String.fetchAll(db, sql: "SELECT device FROM gpu_allocation"))
            let devices = try chooser(taken).sorted()
            for device in devices {
                try GPUAllocation(deviceID: device, containerID: containerID, revision: revision, instance: instance).insert(db)
            }
            return devices
        }
    }

    static func instanceDevices(_ db: Database, _ containerID: String, _ revision: Int, _ instance: Int) throws -> [String] {
        try GPUAllocation
            .filter(Column("containerID") == containerID && Column("revision") == revision && Column("instance") == instance)
            .order(Column("device")).fetchAll(db).map(\.deviceID)
    }

    /// Every allocation, by device.
    public func gpuAllocations() throws -> [GPUAllocation] {
        try writer.read { db in try GPUAllocation.order(Column("device")).fetchAll(db) }
    }
}

/// Picks device ids given the ones already taken; throws when not enough are free. Run inside
/// the store's write transaction, so the choice and the allocation are one atomic step.
public typealias GPUChooser = @Sendable (_ taken: Set<String>) throws -> [String]

extension BerthDatabase {
    /// The devices one instance of a revision holds (the first, the revision's own, unless
    /// told), sorted.
    public func gpuDevices(containerID: String, revision: Int, instance: Int = 0) throws -> [String] {
        try writer.read { db in try Self.instanceDevices(db, containerID, revision, instance) }
    }

    /// Revision 1 with its GPUs, or nothing at all: the chooser's error is rethrown and no row
    /// is written.
    public func createContainer(name: String, owner: String, spec: RevisionSpec, keepWarm: Bool = false,
                                choosingGPUs chooser: @escaping GPUChooser, now: Date = Date()) throws -> (StoredContainer, StoredRevision) {
        let policy = capacityPolicy
        return try change { db in
            let taken = Set(try String.fetchAll(db, sql: "SELECT device FROM gpu_allocation"))
            let devices = try chooser(taken)
            let created = try Self.insertContainer(db, name: name, owner: owner, spec: spec, keepWarm: keepWarm,
                                                   policy: policy, now: now)
            for device in devices {
                try GPUAllocation(deviceID: device, containerID: created.0.id, revision: 1).insert(db)
            }
            return created
        }
    }

    /// The next revision with its GPUs, or nothing. When the node cannot hold both revisions'
    /// GPUs at once, the serving revision's devices are handed to the new one: the reconciler
    /// then stops the old revision before starting the new (`needsRecreate`).
    public func addRevision(containerID: String, spec: RevisionSpec, keepWarm: Bool? = nil,
                            choosingGPUs chooser: @escaping GPUChooser, expectedLatest: Int? = nil,
                            now: Date = Date()) throws -> StoredRevision {
        let policy = capacityPolicy
        return try change { db in
            let container = try Self.writableContainer(db, containerID, expectedLatest: expectedLatest)
            let allocations = try GPUAllocation.fetchAll(db)
            let taken = Set(allocations.map(\.deviceID))
            let serving = Set(allocations.filter {
                $0.containerID == containerID && $0.revision == container.revision && $0.instance == 0
            }.map(\.deviceID))
            let devices: [String]
            do {
                devices = try chooser(taken)
            } catch {
                guard !serving.isEmpty, let reused = try? chooser(taken.subtracting(serving)) else { throw error }
                devices = reused
            }
            let revision = try Self.insertRevision(db, container: container, spec: spec, keepWarm: keepWarm,
                                                   policy: policy, now: now)
            for device in devices {
                if serving.contains(device) {
                    try db.execute(sql: "UPDATE gpu_allocation SET revision = ? WHERE device = ?", arguments: [revision.number, device])
                } else {
                    try GPUAllocation(deviceID: device, containerID: containerID, revision: revision.number).insert(db)
                }
            }
            return revision
        }
    }

    /// True when the revision took GPUs from the serving one, which must therefore stop first.
    public func needsRecreate(containerID: String, revision: Int) throws -> Bool {
        try writer.read { db in
            guard let container = try StoredContainer.fetchOne(db, key: containerID), container.revision != revision,
                  let serving = try StoredRevision.fetchOne(db, key: ["containerID": containerID, "number": container.revision]),
                  serving.spec.gpu > 0, serving.phase == .active
            else { return false }
            let held = try GPUAllocation.filter(Column("containerID") == containerID && Column("revision") == container.revision
                && Column("instance") == 0).fetchCount(db)
            return held < serving.spec.gpu
        }
    }
}

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
            let taken = held.filter { $0.containerID != containerID || $0.revision != revision }.map(\.deviceID)
            if !taken.isEmpty { throw StoreError.gpuTaken(taken.sorted()) }
            let alreadyOurs = Set(held.map(\.deviceID))
            for device in devices where !alreadyOurs.contains(device) {
                try GPUAllocation(deviceID: device, containerID: containerID, revision: revision).insert(db)
            }
        }
    }

    /// Releases the devices held by one revision of the container, or by all of its revisions
    /// when `revision` is nil. Releasing nothing is not an error.
    public func releaseGPUs(containerID: String, revision: Int?) throws {
        try change { db in
            var request = GPUAllocation.filter(Column("containerID") == containerID)
            if let revision { request = request.filter(Column("revision") == revision) }
            try request.deleteAll(db)
        }
    }

    /// Every allocation, by device.
    public func gpuAllocations() throws -> [GPUAllocation] {
        try writer.read { db in try GPUAllocation.order(Column("device")).fetchAll(db) }
    }
}

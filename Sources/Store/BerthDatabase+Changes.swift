import BerthModel
import Foundation
import GRDB

extension BerthDatabase {
    /// Inserts the container and its revision 1 (phase pending) in one transaction; a taken name
    /// throws `.nameTaken` and writes nothing.
    public func createContainer(name: String, owner: String, spec: RevisionSpec, keepWarm: Bool = false,
                                now: Date = Date()) throws -> (StoredContainer, StoredRevision) {
        let policy = capacityPolicy
        return try change { db in
            try Self.insertContainer(db, name: name, owner: owner, spec: spec, keepWarm: keepWarm, policy: policy, now: now)
        }
    }

    /// Throws `.nameTaken`, then `.overCapacity` (see `checkCapacity`), before writing anything.
    static func insertContainer(_ db: Database, name: String, owner: String, spec: RevisionSpec, keepWarm: Bool,
                                policy: CapacityPolicy, now: Date) throws -> (StoredContainer, StoredRevision) {
        let now = StoredDate.stored(now)
        let container = StoredContainer(
            id: UUID().uuidString.lowercased(), name: name, owner: owner, revision: 1, latestRevision: 1,
            phase: .pending, keepWarm: keepWarm, createdAt: now, updatedAt: now)
        let revision = StoredRevision(containerID: container.id, number: 1, spec: spec, phase: .pending, createdAt: now)
        if try StoredContainer.filter(Column("name") == name).isEmpty(db) == false {
            throw StoreError.nameTaken(name)
        }
        try checkReferences(db, owner: owner, containerID: nil, spec: spec)
        try checkCapacity(db, policy: policy, owner: owner, containerID: nil, spec: spec)
        do {
            try container.insert(db)
        } catch let error as DatabaseError
            where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE && error.message?.contains("container.name") == true {
            // Another process inserted the name between the check and the insert.
            throw StoreError.nameTaken(name)
        }
        try revision.insert(db)
        return (container, revision)
    }

    /// Records the next revision (phase pending), sets `latestRevision` and bumps `updatedAt`;
    /// `keepWarm`, when given, replaces the container's setting. Throws `.notFound`, and
    /// `.deleting` for a container being deleted. With `expectedLatest`, the spec was derived
    /// from that revision (a PUT's read-modify-write): when another revision was recorded since,
    /// nothing is written and `.concurrentChange` asks the caller to derive it again.
    public func addRevision(containerID: String, spec: RevisionSpec, keepWarm: Bool? = nil,
                            expectedLatest: Int? = nil, now: Date = Date()) throws -> StoredRevision {
        let policy = capacityPolicy
        return try change { db in
            let container = try Self.writableContainer(db, containerID, expectedLatest: expectedLatest)
            return try Self.insertRevision(db, container: container, spec: spec, keepWarm: keepWarm, policy: policy, now: now)
        }
    }

    /// The container a new revision goes to: it exists, is not being deleted and, with
    /// `expectedLatest`, has recorded no revision since the caller read it.
    static func writableContainer(_ db: Database, _ containerID: String, expectedLatest: Int?) throws -> StoredContainer {
        let container = try existingContainer(db, containerID)
        if container.phase == .deleting { throw StoreError.deleting(containerID) }
        if let expectedLatest, container.latestRevision != expectedLatest {
            throw StoreError.concurrentChange(containerID)
        }
        return container
    }

    /// Throws `.overCapacity` (see `checkCapacity`) before writing anything.
    static func insertRevision(_ db: Database, container: StoredContainer, spec: RevisionSpec, keepWarm: Bool?,
                               policy: CapacityPolicy, now: Date) throws -> StoredRevision {
        try checkReferences(db, owner: container.owner, containerID: container.id, spec: spec)
        try checkCapacity(db, policy: policy, owner: container.owner, containerID: container.id, spec: spec)
        let now = StoredDate.stored(now)
        var container = container
        let revision = StoredRevision(containerID: container.id, number: container.latestRevision + 1, spec: spec,
                                      phase: .pending, createdAt: now)
        try revision.insert(db)
        container.latestRevision = revision.number
        if let keepWarm { container.keepWarm = keepWarm }
        container.updatedAt = now
        try container.update(db)
        return revision
    }

    /// The rollout finished: `number` becomes the serving revision (active, message cleared) and
    /// the container is running with no message, in the same write, so no reader sees the new
    /// revision with the old one's status (such as why an earlier rollout failed). The
    /// previously active one is retired, and so is any older revision still pending (a rollout
    /// this one superseded). Newer pending revisions are left to their own rollout. A retired
    /// revision keeps its GPUs until the reconciler has drained and removed it
    /// (`releaseGPUs(containerID:revision:)`): they are in use until its task is gone.
    public func promote(containerID: String, revision number: Int, now: Date = Date()) throws {
        let now = StoredDate.stored(now)
        try change { db in
            var container = try Self.existingContainer(db, containerID)
            try Self.requireRevision(db, containerID, number)
            try db.execute(
                sql: """
                    UPDATE revision SET phase = 'retired'
                    WHERE containerID = ? AND number != ? AND (phase = 'active' OR (phase = 'pending' AND number < ?))
                    """,
                arguments: [containerID, number, number])
            try db.execute(
                sql: "UPDATE revision SET phase = 'active', message = NULL WHERE containerID = ? AND number = ?",
                arguments: [containerID, number])
            container.revision = number
            if container.phase != .deleting {
                container.phase = .running
                container.statusMessage = nil
            }
            container.updatedAt = now
            try container.update(db)
        }
    }

    /// The rollout failed: the revision is marked failed with the message, and the container
    /// keeps serving its current revision. When the failed revision is the one the container
    /// serves (a first revision that never came up), the container is marked failed too.
    public func failRevision(containerID: String, revision number: Int, message: String, now: Date = Date()) throws {
        let now = StoredDate.stored(now)
        try change { db in
            var container = try Self.existingContainer(db, containerID)
            try Self.requireRevision(db, containerID, number)
            try db.execute(
                sql: "UPDATE revision SET phase = 'failed', message = ? WHERE containerID = ? AND number = ?",
                arguments: [message, containerID, number])
            if number == container.revision && container.phase != .deleting {
                container.phase = .failed
                container.statusMessage = message
            } else {
                try Self.returnGPUs(db, from: number, to: container.revision, containerID: containerID)
            }
            container.updatedAt = now
            try container.update(db)
        }
    }

    /// Records the digest the revision's image resolved to when it was pulled.
    public func setImageDigest(containerID: String, revision number: Int, digest: String) throws {
        try change(observation: true) { db in
            try db.execute(
                sql: "UPDATE revision SET imageDigest = ? WHERE containerID = ? AND number = ?",
                arguments: [digest, containerID, number])
            if db.changesCount == 0 {
                _ = try Self.existingContainer(db, containerID)
                throw StoreError.revisionNotFound(containerID, number)
            }
        }
    }

    /// The container's status as the runtime reports it. Written (with `updatedAt`) only when it
    /// changes: an unchanged report costs one read and no disk write. A container marked
    /// deleting stays deleting, whatever a late report says. With `asOf`, the status was worked
    /// out from the container as it was at those revisions: when a promotion or a new revision
    /// came in between, the report is stale and nothing is written (the newer change set its own).
    public func setStatus(containerID: String, phase: ContainerPhase, message: String?,
                          asOf revisions: (serving: Int, latest: Int)? = nil, now: Date = Date()) throws {
        let current = try writer.read { db in
            try Row.fetchOne(db, sql: "SELECT phase, statusMessage FROM container WHERE id = ?", arguments: [containerID])
        }
        guard let current else { throw StoreError.containerNotFound(containerID) }
        let currentPhase: ContainerPhase = try current.decode(atIndex: 0)
        let currentMessage: String? = try current.decode(atIndex: 1)
        if currentPhase == .deleting && phase != .deleting { return }
        if currentPhase == phase && currentMessage == message { return }

        let now = StoredDate.milliseconds(now)
        try change(observation: true) { db in
            // Re-checked under the write lock: another writer may have changed it meanwhile.
            try db.execute(
                sql: """
                    UPDATE container SET phase = ?, statusMessage = ?, updatedAt = ?
                    WHERE id = ? AND NOT (phase IS ? AND statusMessage IS ?) AND (phase != 'deleting' OR ? = 'deleting')
                      AND (? IS NULL OR (revision = ? AND latestRevision = ?))
                    """,
                arguments: [phase, message, now, containerID, phase, message, phase,
                            revisions?.serving, revisions?.serving, revisions?.latest])
        }
    }

    /// Marks the container as being deleted; it stays in the desired state (holding its GPUs and
    /// reservations) until `deleteContainer` once the runtime has removed it, but it is gone from
    /// the API at once. Its name is freed for a new container at once too: the record takes its
    /// id as name, which no valid name can equal (the API refuses UUID-shaped names).
    public func markDeleting(containerID: String, now: Date = Date()) throws {
        let now = StoredDate.milliseconds(now)
        try change { db in
            try db.execute(
                sql: """
                    UPDATE container SET phase = 'deleting', name = id, statusMessage = NULL, updatedAt = ?
                    WHERE id = ? AND phase != 'deleting'
                    """,
                arguments: [now, containerID])
            if db.changesCount == 0 { _ = try Self.existingContainer(db, containerID) }
        }
    }

    /// Removes the container, its revisions and its GPU allocations (one statement, cascading
    /// through the foreign keys). Throws `.notFound` if there is no such container.
    public func deleteContainer(id: String) throws {
        try change { db in
            if try !StoredContainer.deleteOne(db, key: id) { throw StoreError.containerNotFound(id) }
        }
    }

    /// A failed rollout's GPUs: those the serving revision handed over go back to it (it lacks
    /// them: it was stopped for the rollout), the rest back to the node.
    static func returnGPUs(_ db: Database, from failed: Int, to serving: Int, containerID: String) throws {
        let held = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM gpu_allocation WHERE containerID = ? AND revision = ? AND instance = 0",
                                    arguments: [containerID, serving]) ?? 0
        let wanted = try Int.fetchOne(db, sql: "SELECT gpu FROM revision WHERE containerID = ? AND number = ?",
                                      arguments: [containerID, serving]) ?? 0
        if wanted > held {
            try db.execute(
                sql: """
                    UPDATE gpu_allocation SET revision = ? WHERE device IN
                    (SELECT device FROM gpu_allocation WHERE containerID = ? AND revision = ? AND instance = 0 ORDER BY device LIMIT ?)
                    """,
                arguments: [serving, containerID, failed, wanted - held])
        }
        try db.execute(sql: "DELETE FROM gpu_allocation WHERE containerID = ? AND revision = ?", arguments: [containerID, failed])
    }

    static func existingContainer(_ db: Database, _ id: String) throws -> StoredContainer {
        guard let container = try StoredContainer.fetchOne(db, key: id) else { throw StoreError.containerNotFound(id) }
        return container
    }

    static func requireRevision(_ db: Database, _ containerID: String, _ number: Int) throws {
        if try !StoredRevision.exists(db, key: ["containerID": containerID, "number": number]) {
            throw StoreError.revisionNotFound(containerID, number)
        }
    }
}

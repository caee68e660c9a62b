import BerthModel
import Foundation
import GRDB

/// A volume as recorded: its filesystem lives under the runtime's volume folder by `id`.
public struct StoredVolume: Sendable, Equatable {
    /// A lowercase UUID chosen by the store; the filesystem's folder name.
    public var id: String
    public var owner: String
    /// Unique among the owner's volumes (a DNS label, validated by the API).
    public var name: String
    public var size: Quantity
    public var createdAt: Date
}

/// A container mounting a volume through its serving or latest revision.
public struct VolumeUser: Sendable, Equatable {
    public var containerID: String
    public var containerName: String
    public var readOnly: Bool
}

extension StoredVolume: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "volume"

    public init(row: Row) throws {
        self.init(id: row["id"], owner: row["owner"], name: row["name"], size: try StoredSpec.quantity(row["size"]),
                  createdAt: StoredDate.date(row["createdAt"]))
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["owner"] = owner
        container["name"] = name
        container["size"] = size.text
        container["createdAt"] = StoredDate.milliseconds(createdAt)
    }
}

extension BerthDatabase {
    /// Records a volume; its size is reserved against the node's ephemeral storage and the
    /// owner's quota (`.overCapacity`), and a name the owner already uses is `.duplicate`.
    public func createVolume(name: String, owner: String, size: Quantity, now: Date = Date()) throws -> StoredVolume {
        let policy = capacityPolicy
        return try change { db in
            if try StoredVolume.filter(Column("owner") == owner && Column("name") == name).isEmpty(db) == false {
                throw StoreError.duplicate("you already have a volume named \"\(name)\"")
            }
            try Self.checkCapacity(db, policy: policy, owner: owner, adding: ResourceAmounts(ephemeralStorage: size.bytes))
            let volume = StoredVolume(id: UUID().uuidString.lowercased(), owner: owner, name: name, size: size,
                                      createdAt: StoredDate.stored(now))
            try volume.insert(db)
            return volume
        }
    }

    /// The owner's volumes by name, or every volume (owner nil).
    public func volumes(owner: String?) throws -> [StoredVolume] {
        try writer.read { db in
            var request = StoredVolume.order(Column("name"), Column("owner"))
            if let owner { request = request.filter(Column("owner") == owner) }
            return try request.fetchAll(db)
        }
    }

    public func volume(owner: String, name: String) throws -> StoredVolume? {
        try writer.read { db in try StoredVolume.filter(Column("owner") == owner && Column("name") == name).fetchOne(db) }
    }

    /// The containers whose serving or latest revision mounts the volume (any phase: one being
    /// deleted may still run).
    public func volumeUsers(_ volume: StoredVolume) throws -> [VolumeUser] {
        try writer.read { db in try Self.volumeUsers(db, owner: volume.owner, name: volume.name) }
    }

    static func volumeUsers(_ db: Database, owner: String, name: String, excluding containerID: String? = nil) throws -> [VolumeUser] {
        let rows = try Row.fetchAll(db, sql: """
            SELECT DISTINCT c.id, c.name, json_extract(j.value, '$.readOnly')
            FROM container c JOIN revision r ON r.containerID = c.id AND (r.number = c.revision OR r.number = c.latestRevision),
                json_each(r.volumes) j
            WHERE c.owner = ? AND json_extract(j.value, '$.name') = ? AND c.id IS NOT ?
            ORDER BY c.name
            """, arguments: [owner, name, containerID])
        return rows.map { VolumeUser(containerID: $0[0], containerName: $0[1], readOnly: ($0[2] as Int?) == 1) }
    }

    /// Deletes the record, unless a container mounts the volume (`.inUse`). The caller then
    /// removes its filesystem.
    public func deleteVolume(_ volume: StoredVolume) throws {
        try change { db in
            let users = try Self.volumeUsers(db, owner: volume.owner, name: volume.name)
            guard users.isEmpty else {
                throw StoreError.inUse("volume \"\(volume.name)\" is mounted by \(Self.list(users.map(\.containerName))); delete or update those containers first")
            }
            try db.execute(sql: "DELETE FROM volume WHERE id = ?", arguments: [volume.id])
        }
    }

    /// "container a" or "containers a, b".
    static func list(_ names: [String]) -> String {
        (names.count == 1 ? "container " : "containers ") + names.map { "\"\($0)\"" }.joined(separator: ", ")
    }

    /// The rules a revision's volumes and secrets must keep, inside the transaction that records
    /// it: each names one of the owner's volumes and secrets, and a volume has one writer (a
    /// container of one instance) or any number of readers.
    static func checkReferences(_ db: Database, owner: String, containerID: String?, spec: RevisionSpec) throws {
        for (index, mount) in spec.volumes.enumerated() {
            guard try StoredVolume.filter(Column("owner") == owner && Column("name") == mount.name).isEmpty(db) == false else {
                throw StoreError.invalidReference(field: "volumes[\(index)].name", message: "you have no volume named \"\(mount.name)\"")
            }
            let others = try volumeUsers(db, owner: owner, name: mount.name, excluding: containerID)
            if !mount.readOnly, !others.isEmpty {
                throw StoreError.inUse("volume \"\(mount.name)\" is mounted by \(list(others.map(\.containerName))); a volume has one writer or many readers, so mount it readOnly or stop the others")
            }
            if mount.readOnly, let writer = others.first(where: { !$0.readOnly }) {
                throw StoreError.inUse("volume \"\(mount.name)\" is mounted read-write by container \"\(writer.containerName)\"; a volume has one writer or many readers")
            }
        }
        let secrets = Set(try String.fetchAll(db, sql: "SELECT name FROM secret WHERE owner = ?", arguments: [owner]))
        for (variable, secret) in spec.secretEnv.sorted(by: { $0.key < $1.key }) where !secrets.contains(secret) {
            throw StoreError.invalidReference(field: "env.\(variable)", message: "you have no secret named \"\(secret)\"")
        }
        for (index, mount) in spec.secretMounts.enumerated() where !secrets.contains(mount.secret) {
            throw StoreError.invalidReference(field: "secretMounts[\(index)].secret", message: "you have no secret named \"\(mount.secret)\"")
        }
    }
}

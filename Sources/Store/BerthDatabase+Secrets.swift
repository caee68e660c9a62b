import BerthModel
import Foundation
import GRDB

/// A secret as recorded: its value only sealed (the store never sees it in the clear).
public struct StoredSecret: Sendable, Equatable {
    public var owner: String
    public var name: String
    /// The value sealed with the node's key, bound to owner and name.
    public var sealed: [UInt8]
    /// Bytes of the value.
    public var size: Int
    /// 1 on create, one more with each change of the value.
    public var version: Int
    public var createdAt: Date
    public var updatedAt: Date
}

extension StoredSecret: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "secret"

    public init(row: Row) throws {
        let sealed: Data = row["sealed"]
        self.init(owner: row["owner"], name: row["name"], sealed: Array(sealed), size: row["size"], version: row["version"],
                  createdAt: StoredDate.date(row["createdAt"]), updatedAt: StoredDate.date(row["updatedAt"]))
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["owner"] = owner
        container["name"] = name
        container["sealed"] = Data(sealed)
        container["size"] = size
        container["version"] = version
        container["createdAt"] = StoredDate.milliseconds(createdAt)
        container["updatedAt"] = StoredDate.milliseconds(updatedAt)
    }
}

extension BerthDatabase {
    /// Records a new secret; a name the owner already uses is `.duplicate`.
    public func createSecret(owner: String, name: String, sealed: [UInt8], size: Int, now: Date = Date()) throws -> StoredSecret {
        try change { db in
            if try StoredSecret.filter(Column("owner") == owner && Column("name") == name).isEmpty(db) == false {
                throw StoreError.duplicate("you already have a secret named \"\(name)\"")
            }
            let now = StoredDate.stored(now)
            let secret = StoredSecret(owner: owner, name: name, sealed: sealed, size: size, version: 1, createdAt: now, updatedAt: now)
            try secret.insert(db)
            return secret
        }
    }

    /// Replaces the value (version + 1) and returns the secret with the ids of the containers
    /// whose latest revision uses it: the caller rolls each to a new revision.
    public func replaceSecret(owner: String, name: String, sealed: [UInt8], size: Int,
                              now: Date = Date()) throws -> (StoredSecret, users: [String]) {
        try change { db in
            guard var secret = try StoredSecret.filter(Column("owner") == owner && Column("name") == name).fetchOne(db) else {
                throw StoreError.notFound("secret \"\(name)\"")
            }
            secret.sealed = sealed
            secret.size = size
            secret.version += 1
            secret.updatedAt = StoredDate.stored(now)
            try secret.update(db)
            return (secret, try Self.secretUsers(db, owner: owner, name: name, latestOnly: true).map(\.id))
        }
    }

    public func secrets(owner: String?) throws -> [StoredSecret] {
        try writer.read { db in
            var request = StoredSecret.order(Column("name"), Column("owner"))
            if let owner { request = request.filter(Column("owner") == owner) }
            return try request.fetchAll(db)
        }
    }

    public func secret(owner: String, name: String) throws -> StoredSecret? {
        try writer.read { db in try StoredSecret.filter(Column("owner") == owner && Column("name") == name).fetchOne(db) }
    }

    /// The sealed values of the owner's secrets by name, for a deployment: only those named.
    public func sealedSecrets(owner: String, names: [String]) throws -> [String: StoredSecret] {
        guard !names.isEmpty else { return [:] }
        return try writer.read { db in
            let rows = try StoredSecret.filter(Column("owner") == owner && names.contains(Column("name"))).fetchAll(db)
            return Dictionary(uniqueKeysWithValues: rows.map { ($0.name, $0) })
        }
    }

    /// Deletes the secret, unless a container's serving or latest revision uses it (`.inUse`).
    public func deleteSecret(owner: String, name: String) throws {
        try change { db in
            guard try StoredSecret.filter(Column("owner") == owner && Column("name") == name).isEmpty(db) == false else {
                throw StoreError.notFound("secret \"\(name)\"")
            }
            let users = try Self.secretUsers(db, owner: owner, name: name, latestOnly: false)
            guard users.isEmpty else {
                throw StoreError.inUse("secret \"\(name)\" is used by \(Self.list(users.map(\.name))); update or delete those containers first")
            }
            try db.execute(sql: "DELETE FROM secret WHERE owner = ? AND name = ?", arguments: [owner, name])
        }
    }

    /// Containers of the owner whose serving (unless `latestOnly`) or latest revision names the
    /// secret in its env or its secret mounts.
    static func secretUsers(_ db: Database, owner: String, name: String, latestOnly: Bool) throws -> [(id: String, name: String)] {
        let revisions = latestOnly ? "r.number = c.latestRevision" : "(r.number = c.revision OR r.number = c.latestRevision)"
        let rows = try Row.fetchAll(db, sql: """
            SELECT DISTINCT c.id, c.name FROM container c JOIN revision r ON r.containerID = c.id AND \(revisions)
            WHERE c.owner = ? AND c.phase != 'deleting' AND (
                EXISTS (SELECT 1 FROM json_each(r.secretEnv) e WHERE e.value = ?)
                OR EXISTS (SELECT 1 FROM json_each(r.secretMounts) m WHERE json_extract(m.value, '$.secret') = ?))
            ORDER BY c.name
            """, arguments: [owner, name, name])
        return rows.map { ($0[0], $0[1]) }
    }
}

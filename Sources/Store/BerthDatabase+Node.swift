import Foundation
import GRDB

/// Who this database is: the identity it labels everything it makes in containerd and in its
/// network records with, so that a berthd only ever lists and removes its own objects, and
/// whether it has ever recorded a container, so that a new, empty database can tell "nothing
/// to recover" from "the objects in this namespace belong to someone else".
///
/// The row is written by migration "v3 node identity", once, when the database is created (or
/// upgraded): a random UUID and the time. The upgrade rule for a database made before v3: one
/// that holds containers was in use before labels existed, so it adopts the Berth objects it
/// finds without an identity label (`adoptsUnlabelled`, for good); one without containers is
/// treated as new (its identity sees unlabelled objects as someone else's).
public struct NodeIdentityRecord: Sendable, Equatable {
    /// A lowercase UUID, the value of the `berth.node` label.
    public var identity: String
    public var createdAt: Date
    /// When the first container was recorded; nil while the database has never held one.
    public var firstContainerAt: Date?
    /// Berth objects without an identity label are this node's (a database upgraded from before v3).
    public var adoptsUnlabelled: Bool

    /// False for a new, empty database: it has never recorded a container, so whatever Berth
    /// objects a namespace holds were not made by it.
    public var hasRecordedContainers: Bool { firstContainerAt != nil }
}

extension BerthDatabase {
    /// The node's identity record (see `NodeIdentityRecord`).
    public func nodeIdentityRecord() throws -> NodeIdentityRecord {
        try writer.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT identity, createdAt, firstContainerAt, adoptsUnlabelled FROM node WHERE singleton = 1
                """) else {
                throw StoreError.invalidStoredValue("the node identity row (table node) is missing")
            }
            let first: Int64? = row["firstContainerAt"]
            return NodeIdentityRecord(
                identity: row["identity"],
                createdAt: StoredDate.date(row["createdAt"]),
                firstContainerAt: first.map(StoredDate.date),
                adoptsUnlabelled: row["adoptsUnlabelled"])
        }
    }

    /// The value of the `berth.node` label on everything this database's node makes.
    public var nodeIdentity: String {
        get throws { try nodeIdentityRecord().identity }
    }
}

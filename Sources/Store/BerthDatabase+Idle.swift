import Foundation
import GRDB

// Scale to zero is decided by the traffic controller, the store's second writer (the API is the
// first): it records here that it stopped a container's serving revision for want of requests,
// and clears it when a request wakes it. The reconciler reads it so that neither its periodic
// re-check nor a restart of berthd starts a container nobody asked for.

extension BerthDatabase {
    /// The serving revision was stopped because it had no requests: it stays stopped (across
    /// restarts of berthd) until `markAwake`. A container being deleted or gone is ignored.
    public func markIdle(containerID: String, revision: Int, now: Date = Date()) throws {
        let now = StoredDate.milliseconds(now)
        try change { db in
            try db.execute(
                sql: """
                    INSERT INTO idle_revision (containerID, revision, since)
                    SELECT id, ?, ? FROM container WHERE id = ? AND phase != 'deleting'
                    ON CONFLICT (containerID) DO UPDATE SET revision = excluded.revision, since = excluded.since
                    """,
                arguments: [revision, now, containerID])
        }
    }

    /// A request woke the container (or a new revision serves): it runs again.
    public func markAwake(containerID: String) throws {
        try change { db in
            try db.execute(sql: "DELETE FROM idle_revision WHERE containerID = ?", arguments: [containerID])
        }
    }

    /// The revision stopped for idleness, by container id; only entries for the serving revision
    /// count (a rollout since then serves another one, which runs).
    public func idleRevisions() throws -> [String: Int] {
        try writer.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT i.containerID, i.revision FROM idle_revision i JOIN container c ON c.id = i.containerID
                WHERE c.revision = i.revision
                """)
            return Dictionary(rows.map { ($0[0] as String, $0[1] as Int) }, uniquingKeysWith: { first, _ in first })
        }
    }

    /// True when the container's serving revision `revision` is stopped for idleness.
    public func isIdle(containerID: String, revision: Int) throws -> Bool {
        try writer.read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM idle_revision WHERE containerID = ? AND revision = ?",
                              arguments: [containerID, revision]) ?? false
        }
    }
}

import BerthModel
import GRDB

/// Where a page of the container list ends: the last row's creation time and row id, the
/// list's order. The next page starts after it, so a page boundary does not move when
/// containers before it are created or deleted (keyset pagination, not an offset).
public struct ListPosition: Sendable, Hashable {
    public var createdAt: Int64
    public var rowID: Int64

    public init(createdAt: Int64, rowID: Int64) {
        self.createdAt = createdAt
        self.rowID = rowID
    }
}

/// One page of containers with their serving revisions; `next` is set when more follow.
public struct ContainerPage: Sendable {
    public var rows: [(StoredContainer, StoredRevision)]
    public var next: ListPosition?
}

extension BerthDatabase {
    /// Up to `limit` of the owner's containers (nil: every owner's; nil limit: all of them) after
    /// `after`, oldest first, each with its serving revision, in one query on the
    /// (owner, createdAt) or (createdAt) index. Containers being deleted are left out: they are
    /// gone for the API and the proxy the moment they are marked.
    public func containerPage(owner: String?, after: ListPosition?, limit: Int?) throws -> ContainerPage {
        var sql = """
            SELECT \(Self.selection(StoredContainer.columns, of: "c")), \(Self.selection(StoredRevision.columns, of: "r")),
                c.createdAt, c.rowid
            FROM container c JOIN revision r ON r.containerID = c.id AND r.number = c.revision
            WHERE c.phase != 'deleting'
            """
        var arguments = StatementArguments()
        if let owner {
            sql += " AND c.owner = ?"
            arguments += [owner]
        }
        if let after {
            sql += " AND (c.createdAt, c.rowid) > (?, ?)"
            arguments += [after.createdAt, after.rowID]
        }
        sql += " ORDER BY c.createdAt, c.rowid"
        if let limit {
            // One more than asked says whether another page follows.
            sql += " LIMIT ?"
            arguments += [limit + 1]
        }
        return try writer.read { db in
            let revisionStart = StoredContainer.columns.count
            let positionStart = revisionStart + StoredRevision.columns.count
            var page = ContainerPage(rows: [], next: nil)
            var last: ListPosition?
            let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            while let row = try rows.next() {
                if let limit, page.rows.count == limit {
                    page.next = last
                    break
                }
                page.rows.append((try StoredContainer(row: row, from: 0), try StoredRevision(row: row, from: revisionStart)))
                last = ListPosition(createdAt: row[positionStart], rowID: row[positionStart + 1])
            }
            return page
        }
    }
}

import BerthModel
import GRDB

extension BerthDatabase {
    public func container(id: String) throws -> StoredContainer? {
        try writer.read { db in try StoredContainer.fetchOne(db, key: id) }
    }

    public func container(named name: String) throws -> StoredContainer? {
        try writer.read { db in try StoredContainer.filter(Column("name") == name).fetchOne(db) }
    }

    /// The owner's containers (nil: every container), oldest first.
    public func containers(owner: String?) throws -> [StoredContainer] {
        try writer.read { db in
            var request = StoredContainer.order(Column("createdAt"), Column.rowID)
            if let owner { request = request.filter(Column("owner") == owner) }
            return try request.fetchAll(db)
        }
    }

    /// The owner's containers (nil: every container), oldest first, each with its serving
    /// revision, in one query. Containers being deleted are left out: they are gone for the API
    /// and the proxy the moment they are marked.
    public func containersWithServingRevision(owner: String?) throws -> [(StoredContainer, StoredRevision)] {
        try containerPage(owner: owner, after: nil, limit: nil).rows
    }

    /// Newest first.
    public func revisions(containerID: String) throws -> [StoredRevision] {
        try writer.read { db in
            try StoredRevision.filter(Column("containerID") == containerID)
                .order(Column("number").desc)
                .fetchAll(db)
        }
    }

    public func revision(containerID: String, number: Int) throws -> StoredRevision? {
        try writer.read { db in
            try StoredRevision.fetchOne(db, key: ["containerID": containerID, "number": number])
        }
    }

    public func containerCount() throws -> Int {
        try writer.read { db in try StoredContainer.fetchCount(db) }
    }

    /// What the runtime must run after a restart, oldest container first: each container with
    /// its serving revision and, during a rollout, the pending latest revision (ascending).
    /// Containers marked deleting are included, so that their deletion can finish.
    public func desiredState() throws -> [(container: StoredContainer, revisions: [StoredRevision])] {
        let sql = """
            SELECT \(Self.selection(StoredContainer.columns, of: "c")), \(Self.selection(StoredRevision.columns, of: "r"))
            FROM container c LEFT JOIN revision r ON r.containerID = c.id
                AND (r.number = c.revision OR (r.number = c.latestRevision AND r.phase = 'pending'))
            ORDER BY c.createdAt, c.rowid, r.number
            """
        return try writer.read { db in
            let revisionStart = StoredContainer.columns.count
            var result: [(container: StoredContainer, revisions: [StoredRevision])] = []
            let rows = try Row.fetchCursor(db, sql: sql)
            while let row = try rows.next() {
                let containerID: String = try row.decode(atIndex: 0)
                if result.last?.container.id != containerID {
                    result.append((try StoredContainer(row: row, from: 0), []))
                }
                if !row.hasNull(atIndex: revisionStart) {
                    result[result.count - 1].revisions.append(try StoredRevision(row: row, from: revisionStart))
                }
            }
            return result
        }
    }

    static func selection(_ columns: [String], of table: String) -> String {
        columns.map { "\(table).\($0)" }.joined(separator: ", ")
    }
}

import GRDB
import Synchronization

/// One container that a committed transaction changed, as the commit left it.
public struct ContainerChange: Sendable, Equatable {
    public var containerID: String
    /// The container after the commit; nil when the commit deleted it.
    public var container: StoredContainer?
    /// Its serving revision after the commit (nil when deleted, or when that row is missing).
    public var serving: StoredRevision?

    public var isDeleted: Bool { container == nil }

    public init(containerID: String, container: StoredContainer?, serving: StoredRevision?) {
        self.containerID = containerID
        self.container = container
        self.serving = serving
    }
}

/// Something `observeContainerChanges` calls: on the writer's thread, inside the commit.
public typealias ContainerChangeHandler = @Sendable (_ changes: [ContainerChange]) -> Void

/// A subscription to container changes; ends on `cancel()` (not when dropped, so that a
/// subscriber that lives as long as the database can ignore it).
public final class ContainerObservation: Sendable {
    private weak let hub: ContainerChangeHub?
    private let token: Int

    init(hub: ContainerChangeHub, token: Int) {
        self.hub = hub
        self.token = token
    }

    public func cancel() {
        hub?.remove(token)
    }
}

extension BerthDatabase {
    /// Calls `onChange` after every committed transaction of this value that changed a
    /// container or one of its revisions, with each changed container as committed (one point
    /// read per container, made on the writer right after the commit). The call happens before
    /// the write that committed returns to its caller, so a reader told "created" can rely on
    /// every subscriber having seen it; calls come one at a time, in commit order.
    ///
    /// With `includingExisting`, `onChange` is first called (before this returns) with every
    /// container there is: a full scan, once, with no commit in between it and the first change.
    ///
    /// `onChange` runs on the writer's thread inside the commit: it must be short and must not
    /// call this database (that would deadlock). Changes made by other processes are not seen.
    @discardableResult
    public func observeContainerChanges(includingExisting: Bool = false,
                                        _ onChange: @escaping ContainerChangeHandler) throws -> ContainerObservation {
        try writer.writeWithoutTransaction { db in
            try containerChanges.install(on: db)
            let observation = containerChanges.add(onChange)
            if includingExisting {
                let existing = try ContainerChangeHub.everyContainer(db)
                if !existing.isEmpty { onChange(existing) }
            }
            return observation
        }
    }
}

/// The subscribers of one database and the one GRDB observer that feeds them.
final class ContainerChangeHub: Sendable {
    private struct Subscribers {
        var handlers: [Int: ContainerChangeHandler] = [:]
        var next = 0
    }

    private let subscribers = Mutex(Subscribers())
    private let observer = Mutex<ContainerRowObserver?>(nil)

    /// Registers the observer on the writer once; `db` is the writer connection.
    func install(on db: Database) throws {
        if observer.withLock({ $0 != nil }) { return }
        let created = ContainerRowObserver(hub: self, rowIDs: try Self.containerRowIDs(db))
        db.add(transactionObserver: created, extent: .databaseLifetime)
        observer.withLock { $0 = created }
    }

    func add(_ handler: @escaping ContainerChangeHandler) -> ContainerObservation {
        let token = subscribers.withLock { state in
            defer { state.next += 1 }
            state.handlers[state.next] = handler
            return state.next
        }
        return ContainerObservation(hub: self, token: token)
    }

    func remove(_ token: Int) {
        _ = subscribers.withLock { $0.handlers.removeValue(forKey: token) }
    }

    var subscriberCount: Int { subscribers.withLock { $0.handlers.count } }
    /// Containers the observer knows the rowid of (for tests: it must not grow).
    var knownRowCount: Int { observer.withLock { $0?.knownRowCount ?? 0 } }

    var hasSubscribers: Bool { subscribers.withLock { !$0.handlers.isEmpty } }

    func deliver(_ changes: [ContainerChange]) {
        let handlers = subscribers.withLock { Array($0.handlers.values) }
        for handler in handlers { handler(changes) }
    }

    static func containerRowIDs(_ db: Database) throws -> [Int64: String] {
        var map: [Int64: String] = [:]
        let rows = try Row.fetchCursor(db, sql: "SELECT rowid, id FROM container")
        while let row = try rows.next() { map[row[0]] = row[1] }
        return map
    }

    static func everyContainer(_ db: Database) throws -> [ContainerChange] {
        let sql = """
            SELECT \(BerthDatabase.selection(StoredContainer.columns, of: "c")), \(BerthDatabase.selection(StoredRevision.columns, of: "r"))
            FROM container c LEFT JOIN revision r ON r.containerID = c.id AND r.number = c.revision
            ORDER BY c.createdAt, c.rowid
            """
        var result: [ContainerChange] = []
        let revisionStart = StoredContainer.columns.count
        let rows = try Row.fetchCursor(db, sql: sql)
        while let row = try rows.next() {
            let container = try StoredContainer(row: row, from: 0)
            let serving = row.hasNull(atIndex: revisionStart) ? nil : try StoredRevision(row: row, from: revisionStart)
            result.append(ContainerChange(containerID: container.id, container: container, serving: serving))
        }
        return result
    }
}

/// Collects the rowids a transaction touched in `container` and `revision` (the update hook
/// reports foreign-key cascades too: GRDB sees them through the authorizer), and turns them
/// into container ids at commit. A deleted row is only known by its rowid, so the observer keeps
/// every container's rowid → id; a rowid SQLite hands out again (it reuses the largest after a
/// delete) is told apart by the id read back.
///
/// GRDB calls it only on the writer's serial queue; the mutex just makes that checkable.
final class ContainerRowObserver: TransactionObserver, Sendable {
    private struct Pending {
        var rowIDs: [Int64: String]
        var containers = Set<Int64>()
        var revisions = Set<Int64>()
    }

    private weak let hub: ContainerChangeHub?
    private let state: Mutex<Pending>

    init(hub: ContainerChangeHub, rowIDs: [Int64: String]) {
        self.hub = hub
        self.state = Mutex(Pending(rowIDs: rowIDs))
    }

    var knownRowCount: Int { state.withLock { $0.rowIDs.count } }

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        eventKind.tableName == StoredContainer.databaseTableName || eventKind.tableName == StoredRevision.databaseTableName
    }

    func databaseDidChange(with event: DatabaseEvent) {
        let table = event.tableName
        let rowID = event.rowID
        state.withLock { pending in
            if table == StoredContainer.databaseTableName {
                pending.containers.insert(rowID)
            } else {
                pending.revisions.insert(rowID)
            }
        }
    }

    func databaseDidCommit(_ db: Database) {
        let changes: [ContainerChange]
        do {
            changes = try state.withLock { pending in
                defer {
                    pending.containers.removeAll(keepingCapacity: true)
                    pending.revisions.removeAll(keepingCapacity: true)
                }
                return try Self.changes(db, &pending, full: hub?.hasSubscribers ?? false)
            }
        } catch {
            // A read on the writer right after its own commit does not fail short of a closed
            // or broken connection; then there is nothing left to tell.
            return
        }
        if !changes.isEmpty { hub?.deliver(changes) }
    }

    func databaseDidRollback(_ db: Database) {
        state.withLock { pending in
            pending.containers.removeAll(keepingCapacity: true)
            pending.revisions.removeAll(keepingCapacity: true)
        }
    }

    /// Updates the rowid map and, with `full`, reads each changed container and its serving
    /// revision: one point read each.
    private static func changes(_ db: Database, _ pending: inout Pending, full: Bool) throws -> [ContainerChange] {
        if pending.containers.isEmpty && pending.revisions.isEmpty { return [] }
        var deleted: [String] = []
        var current: [String: StoredContainer] = [:]
        for rowID in pending.containers {
            let before = pending.rowIDs[rowID]
            let after = try StoredContainer.filter(Column.rowID == rowID).fetchOne(db)
            if let after {
                pending.rowIDs[rowID] = after.id
                current[after.id] = after
            } else {
                pending.rowIDs.removeValue(forKey: rowID)
            }
            if let before, before != after?.id { deleted.append(before) }
        }
        guard full else { return [] }
        // Containers changed only through a revision (a promotion's phase, an image digest). A
        // revision row that is gone went with its container (revisions are only deleted by the
        // cascade), which the container's own row reports.
        var throughRevision = Set<String>()
        for rowID in pending.revisions {
            if let containerID = try String.fetchOne(db, sql: "SELECT containerID FROM revision WHERE rowid = ?",
                                                     arguments: [rowID]), current[containerID] == nil {
                throughRevision.insert(containerID)
            }
        }
        for id in throughRevision {
            if let container = try StoredContainer.fetchOne(db, key: id) { current[id] = container }
        }
        var result: [ContainerChange] = []
        for id in deleted where current[id] == nil {
            result.append(ContainerChange(containerID: id, container: nil, serving: nil))
        }
        for (id, container) in current.sorted(by: { $0.key < $1.key }) {
            let serving = try StoredRevision.fetchOne(db, key: ["containerID": id, "number": container.revision])
            result.append(ContainerChange(containerID: id, container: container, serving: serving))
        }
        return result
    }
}

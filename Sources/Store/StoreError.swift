/// Why the store refused a change. Writes turn SQLite's failures into `.diskFull` and
/// `.unavailable`; anything else a read throws is a database failure (a GRDB `DatabaseError`).
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Another container already has this name.
    case nameTaken(String)
    /// What was asked for does not exist, e.g. "container <id>" or "revision 3 of container <id>".
    case notFound(String)
    /// These devices are already allocated to another container or revision.
    case gpuTaken([String])
    /// The container is being deleted: it takes no new revisions or allocations.
    case deleting(String)
    /// The change would take the node past its capacity or the owner past their quota.
    case overCapacity(CapacityShortfall)
    /// A stored value could not be read back (a damaged or hand-edited database).
    case invalidStoredValue(String)
    /// The database was migrated by a newer Berth; these migrations are unknown to this one.
    case newerSchema([String])
    /// Another change to the container was recorded since the caller read it: read and derive
    /// the change again (optimistic concurrency for read-modify-write).
    case concurrentChange(String)
    /// A revision names a volume or secret its owner does not have: the field (e.g.
    /// "volumes[0].name") and why.
    case invalidReference(field: String, message: String)
    /// A volume or secret is used by containers in a way the change does not allow (deleting
    /// one in use, a second writer, a reader beside a writer).
    case inUse(String)
    /// Another volume or secret of the owner has this name.
    case duplicate(String)
    /// The disk holding the database is full: nothing of the change was written.
    case diskFull
    /// The database cannot take writes right now (locked by another process, an I/O error, a
    /// read-only file system): nothing of the change was written; try again later.
    case unavailable(String)

    public var description: String {
        switch self {
        case .nameTaken(let name): "the name \"\(name)\" is taken"
        case .notFound(let what): "no \(what)"
        case .gpuTaken(let devices): "GPU \(devices.joined(separator: ", ")) already allocated"
        case .deleting(let id): "container \(id) is being deleted"
        case .overCapacity(let shortfall): shortfall.description
        case .invalidStoredValue(let detail): "invalid value in the database: \(detail)"
        case .concurrentChange(let id): "container \(id) was changed at the same time; try again"
        case .invalidReference(let field, let message): "\(field): \(message)"
        case .inUse(let detail): detail
        case .duplicate(let detail): detail
        case .diskFull: "the disk holding the database is full"
        case .unavailable(let detail): "the database cannot take writes: \(detail)"
        case .newerSchema(let migrations):
            "the database was written by a newer Berth (unknown migrations: \(migrations.joined(separator: ", ")))"
        }
    }

    static func containerNotFound(_ id: String) -> StoreError { .notFound("container \(id)") }

    static func revisionNotFound(_ containerID: String, _ number: Int) -> StoreError {
        .notFound("revision \(number) of container \(containerID)")
    }
}

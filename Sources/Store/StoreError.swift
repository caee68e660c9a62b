/// Why the store refused a change. Anything else thrown by the store is a database failure
/// (a GRDB `DatabaseError`: disk full, I/O error…) and means "try again later", not "bad request".
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

    public var description: String {
        switch self {
        case .nameTaken(let name): "the name \"\(name)\" is taken"
        case .notFound(let what): "no \(what)"
        case .gpuTaken(let devices): "GPU \(devices.joined(separator: ", ")) already allocated"
        case .deleting(let id): "container \(id) is being deleted"
        case .overCapacity(let shortfall): shortfall.description
        case .invalidStoredValue(let detail): "invalid value in the database: \(detail)"
        case .newerSchema(let migrations):
            "the database was written by a newer Berth (unknown migrations: \(migrations.joined(separator: ", ")))"
        }
    }

    static func containerNotFound(_ id: String) -> StoreError { .notFound("container \(id)") }

    static func revisionNotFound(_ containerID: String, _ number: Int) -> StoreError {
        .notFound("revision \(number) of container \(containerID)")
    }
}

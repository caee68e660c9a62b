/// What berthd does at start about Berth objects of other node identities in its containerd
/// namespace. A pure rule, decided before anything is recovered:
///
/// - none found: start;
/// - `--purge-foreign` given: remove them (logging each), then start;
/// - the database has never recorded a container (a new, empty one: a data disk that did not
///   mount, a deleted or restored `berth.sqlite`, a second berthd with its own data folder):
///   refuse to start, in one line naming the namespace, the count and the ways out. Starting
///   would not destroy them (recovery touches only this node's objects), but a node whose
///   database knows nothing is the usual sign of an operator mistake, and two nodes in one
///   namespace share one bridge, subnet and set of images;
/// - a database in use: they belong to another node that shares the namespace; leave them
///   alone and say so once.
public enum OwnershipDecision: Equatable, Sendable {
    case start
    case purge
    case warn(String)
    case refuse(String)

    public static func decide(namespace: String, databaseInUse: Bool, foreignCount: Int, foreignSummary: String,
                              purgeForeign: Bool) -> OwnershipDecision {
        guard foreignCount > 0 else { return .start }
        if purgeForeign { return .purge }
        let found = "containerd namespace \"\(namespace)\" holds \(foreignCount) Berth object\(foreignCount == 1 ? "" : "s") "
            + "of another node (\(foreignSummary))"
        if databaseInUse {
            return .warn(found + "; leaving them alone")
        }
        return .refuse(found + " and this berthd's database is new: refusing to start. Use another namespace "
            + "(--namespace, BERTH_NAMESPACE or containerd.namespace), restore the database that made them, "
            + "or start once with --purge-foreign to remove them")
    }
}

/// berthd refused to start: the message is the whole story, one line.
public struct StartRefused: Error, CustomStringConvertible {
    public var description: String
}

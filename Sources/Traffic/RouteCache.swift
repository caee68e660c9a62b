import Store
import Synchronization

/// Containers by name and by id, with their serving revision, in memory: loaded once with one
/// full read when made, then kept current from the store's change events (one point read per
/// changed container, made by the store at commit). Routing a request reads no database.
///
/// The events arrive inside the commit, before the write returns: a container whose create was
/// answered routes at once, and a deleted one stops routing before its DELETE is answered.
final class RouteCache: Sendable {
    struct Entry: Sendable {
        var container: StoredContainer
        var serving: StoredRevision
    }

    private struct Table {
        var byID: [String: Entry] = [:]
        /// name → id; a name reused after a delete points at the newer container.
        var idByName: [String: String] = [:]
    }

    private let table = Mutex(Table())
    private let observation = Mutex<ContainerObservation?>(nil)

    /// Loads every container (the one full read) and subscribes to changes; no change between
    /// the two is missed. A store that cannot be read leaves the table empty (every host is
    /// then "not found") and is logged by whoever reads it next.
    init(database: BerthDatabase) {
        let subscription = try? database.observeContainerChanges(includingExisting: true) { [weak self] changes in
            self?.apply(changes)
        }
        observation.withLock { $0 = subscription }
    }

    deinit {
        observation.withLock { $0?.cancel() }
    }

    /// The container a host label names (its id, or its name), if any.
    func entry(for label: String) -> Entry? {
        table.withLock { table in
            // Ids before names: a label that is one container's id and another's name (a name
            // recorded before UUID-shaped names were refused) routes to the id's container.
            if let entry = table.byID[label] { return entry }
            return table.idByName[label].flatMap { table.byID[$0] }
        }
    }

    /// Every container with its serving revision, as of now, in no particular order.
    func all() -> [Entry] {
        table.withLock { Array($0.byID.values) }
    }

    /// How many containers and names the table holds (for tests: nothing outlives its container).
    var counts: (containers: Int, names: Int) {
        table.withLock { ($0.byID.count, $0.idByName.count) }
    }

    private func apply(_ changes: [ContainerChange]) {
        table.withLock { table in
            for change in changes {
                let previous = table.byID.removeValue(forKey: change.containerID)
                if let previous, table.idByName[previous.container.name] == change.containerID {
                    table.idByName.removeValue(forKey: previous.container.name)
                }
                // A container without its serving revision row cannot be routed.
                guard let container = change.container, let serving = change.serving else { continue }
                table.byID[container.id] = Entry(container: container, serving: serving)
                table.idByName[container.name] = container.id
            }
        }
    }
}

import Store
import Synchronization

/// Containers by name and by id, with their serving revision: rebuilt from the store when it
/// changed, so that routing a request reads no database.
final class RouteCache: Sendable {
    struct Entry: Sendable {
        var container: StoredContainer
        var serving: StoredRevision
    }

    private struct Snapshot {
        var changeCount: UInt64
        var byHost: [String: Entry]
        var entries: [Entry]
    }

    private let database: BerthDatabase
    private let current = Mutex<Snapshot?>(nil)

    init(database: BerthDatabase) {
        self.database = database
    }

    /// The container a host label names (its name, or its id), if any.
    func entry(for label: String) -> Entry? {
        snapshot().byHost[label]
    }

    /// Every container with its serving revision, as of now.
    func all() -> [Entry] {
        snapshot().entries
    }

    private func snapshot() -> Snapshot {
        // The count is read before the rows: a write in between makes the snapshot stale at once.
        let changeCount = database.changeCount
        if let snapshot = current.withLock({ $0 }), snapshot.changeCount == changeCount {
            return snapshot
        }
        var byHost: [String: Entry] = [:]
        var entries: [Entry] = []
        let rows = (try? database.containersWithServingRevision(owner: nil)) ?? []
        for (container, serving) in rows {
            let entry = Entry(container: container, serving: serving)
            byHost[container.name] = entry
            entries.append(entry)
        }
        // Ids after names: a label that is one container's id and another's name (a name
        // recorded before UUID-shaped names were refused) routes to the id's container.
        for entry in entries {
            byHost[entry.container.id] = entry
        }
        let snapshot = Snapshot(changeCount: changeCount, byHost: byHost, entries: entries)
        current.withLock { $0 = snapshot }
        return snapshot
    }
}

import NIOCore
import Synchronization

/// Rendered container lists by caller, valid while neither the store nor the instances have
/// changed: a list of a thousand containers costs milliseconds to read and encode, and clients
/// poll it.
final class ListCache: Sendable {
    /// The store's change count and the backend's instances version.
    struct Version: Equatable {
        var changeCount: UInt64
        var instances: UInt64
    }

    private struct Entry {
        var changeCount: Version
        var body: ByteBuffer
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let capacity = 256

    /// The cached body for `key` if the store is still at `changeCount`, else renders, keeps and
    /// returns a new one.
    func body(for key: String, changeCount: Version, render: () throws -> ByteBuffer) rethrows -> ByteBuffer {
        if let entry = entries.withLock({ $0[key] }), entry.changeCount == changeCount {
            return entry.body
        }
        let body = try render()
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(changeCount: changeCount, body: body)
        }
        return body
    }
}

import Foundation
import NIOCore
import Synchronization

/// Each container's JSON as the list shows it, kept with the view it was encoded from, so that a
/// page is the views it shows (cheap to read) and bytes already encoded for those that did not
/// change. On a node whose containers keep changing (a thousand retrying their pulls) the list
/// is rendered again after nearly every change, and encoding its hundred containers with
/// `JSONEncoder` took half of berthd's CPU time in bench/api; now only the changed ones are.
final class ContainerFragments: Sendable {
    private struct Entry: Sendable {
        var view: ContainerView
        var bytes: ByteBuffer
    }

    private let entries = Mutex<[String: Entry]>([:])
    /// Deleted containers' entries are not looked for: past this many, they all go.
    private let capacity: Int

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    /// `view` as JSON: the bytes kept for its container when the view is the same, encoded now
    /// (and kept) when it changed.
    func encoded(_ view: ContainerView) throws -> ByteBuffer {
        if let entry = entries.withLock({ $0[view.id] }), entry.view == view { return entry.bytes }
        let bytes = ByteBuffer(bytes: try JSON.encoder.encode(view))
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[view.id] = Entry(view: view, bytes: bytes)
        }
        return bytes
    }

    /// The list's body: what `JSON.encoder` makes of a `ContainerList` (sorted keys, no spaces),
    /// put together from the containers' fragments.
    func listBody(_ views: [ContainerView], nextPageToken: String?) throws -> ByteBuffer {
        let fragments = try views.map { try encoded($0) }
        var body = ByteBuffer()
        body.reserveCapacity(fragments.reduce(64) { $0 + $1.readableBytes + 1 })
        body.writeStaticString(#"{"containers":["#)
        for (index, fragment) in fragments.enumerated() {
            if index > 0 { body.writeStaticString(",") }
            body.writeImmutableBuffer(fragment)
        }
        body.writeStaticString("]")
        if let nextPageToken {
            body.writeStaticString(#","nextPageToken":"#)
            body.writeBytes(try JSON.encoder.encode(nextPageToken))
        }
        body.writeStaticString("}")
        return body
    }
}

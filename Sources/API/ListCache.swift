import NIOCore
import Synchronization

/// Rendered container lists by caller and page. A list of a hundred containers costs
/// milliseconds to read and encode, clients poll it, and a node whose containers keep changing
/// (a thousand retrying their pulls) changes the store every few milliseconds: rendering once per
/// request then took both cores and the API's p99 with them (bench/api).
///
/// So a body is kept under the version it was read at, and a request takes any body that
/// reflects every change committed before it arrived: the one kept, or the one being rendered
/// now from a version at least as new, which it waits for instead of rendering its own. Renders
/// then follow the rate of changes, not of requests, and no answer is older than its request.
final class ListCache: Sendable {
    /// The store's change count and the backend's instances version; both only grow.
    struct Version: Equatable, Sendable {
        var changeCount: UInt64
        var instances: UInt64

        /// A body read at this version reflects everything `other` does.
        func covers(_ other: Version) -> Bool {
            changeCount >= other.changeCount && instances >= other.instances
        }
    }

    private struct Slot {
        var kept: (version: Version, body: ByteBuffer)? = nil
        /// A render under way, from this version, and the requests waiting for it.
        var rendering: (version: Version, waiters: [CheckedContinuation<ByteBuffer, any Error>])? = nil
    }

    private enum Step {
        case answer(ByteBuffer)
        /// A render that covers the request is under way: wait for its body.
        case wait
        /// Render; `shared`: as the slot's render, handing the body to those who wait.
        case render(Version, shared: Bool)
    }

    /// The render a waiter counted on ended before it could register: look again.
    private struct LookAgain: Error {}

    private let slots = Mutex<[String: Slot]>([:])
    private let capacity = 256

    /// A body for `key` that reflects `arrival` (the version read when the request came): kept,
    /// shared with a render under way, or rendered now at `current()` (read just before the rows).
    func body(for key: String, arrival: Version, current: () -> Version,
              render: () throws -> ByteBuffer) async throws -> ByteBuffer {
        while true {
            switch next(key, arrival, current) {
            case .answer(let body):
                return body
            case .wait:
                do {
                    return try await withCheckedThrowingContinuation { continuation in
                        let registered = slots.withLock { slots in
                            guard let rendering = slots[key]?.rendering, rendering.version.covers(arrival) else { return false }
                            slots[key]!.rendering!.waiters.append(continuation)
                            return true
                        }
                        if !registered { continuation.resume(throwing: LookAgain()) }
                    }
                } catch is LookAgain {
                    continue
                }
            case .render(let version, let shared):
                return try finish(key, version, shared: shared, Result { try render() })
            }
        }
    }

    private func next(_ key: String, _ arrival: Version, _ current: () -> Version) -> Step {
        slots.withLock { slots in
            var slot = slots[key] ?? Slot()
            defer { slots[key] = slot }
            if let kept = slot.kept, kept.version.covers(arrival) { return .answer(kept.body) }
            guard let rendering = slot.rendering else {
                let version = current()
                slot.rendering = (version, [])
                return .render(version, shared: true)
            }
            // One from an older version is under way: render alone rather than wait for two.
            return rendering.version.covers(arrival) ? .wait : .render(current(), shared: false)
        }
    }

    /// Keeps a newer body, and hands the shared render's outcome to those who wait for it.
    private func finish(_ key: String, _ version: Version, shared: Bool, _ result: Result<ByteBuffer, any Error>) throws -> ByteBuffer {
        let waiters = slots.withLock { slots -> [CheckedContinuation<ByteBuffer, any Error>] in
            if slots.count > capacity { slots = slots.filter { $0.value.rendering != nil } }
            var slot = slots[key] ?? Slot()
            defer { slots[key] = slot }
            if case .success(let body) = result, slot.kept.map({ version.covers($0.version) }) ?? true {
                slot.kept = (version, body)
            }
            guard shared, let rendering = slot.rendering else { return [] }
            slot.rendering = nil
            return rendering.waiters
        }
        waiters.forEach { $0.resume(with: result) }
        return try result.get()
    }
}

import NIOCore
import Synchronization

/// Rendered container lists by caller and page. A list of a hundred containers costs
/// milliseconds to read and encode, clients poll it, and a node whose containers keep changing
/// (a thousand retrying their pulls) changes the store every few milliseconds: rendering once per
/// request then took both cores and the API's p99 with them (bench/api).
///
/// So a body is kept under the version it was read at, and a request takes any body that
/// reflects every change committed before it arrived: the one kept, or the one being rendered
/// now from a version at least as new, which it waits for instead of rendering its own. One that
/// arrived after that render's version was read waits for it to end, and then for the next, which
/// one of the requests that waited renders for them all: a key has one render at a time, so a
/// stream of changes costs one render after another, not one per request at once (sixteen
/// renders side by side on two cores made the p99). Renders follow the rate of changes, not of
/// requests.
///
/// Changes a client asked for (creates, updates, deletes, rollouts) are in every answer to a
/// request that came after them. What berthd observed of its containers (statuses, instances,
/// pulls) may be up to `observationWindow` older than the request: those arrive from the
/// runtime a moment after they happen anyway, and a thousand containers retrying their pulls
/// observe something every few milliseconds, which made every request wait for a render.
final class ListCache: Sendable {
    struct Version: Equatable, Sendable {
        /// The store's changes other than recorded observations; only grows.
        var requested: UInt64
        /// Every change: the store's, and the runtime's instances, scaling and pulls; only grows.
        var observed: UInt64
        /// When the counts were read.
        var at: ContinuousClock.Instant

        /// A body read at this version reflects what a request that arrived at `other` must see:
        /// every change asked for, and every observation but those of the last `window`.
        func covers(_ other: Version, window: Duration) -> Bool {
            requested >= other.requested && (observed >= other.observed || other.at - at <= window)
        }
    }

    let observationWindow: Duration

    init(observationWindow: Duration = .milliseconds(100)) {
        self.observationWindow = observationWindow
    }

    private struct Slot {
        var kept: (version: Version, body: ByteBuffer)? = nil
        /// A render under way, from this version, and the requests waiting for it.
        var rendering: (version: Version, waiters: [CheckedContinuation<ByteBuffer, any Error>])? = nil
        /// Requests the render under way does not cover (a change came after it read its
        /// version): they look again when it ends.
        var next: [CheckedContinuation<ByteBuffer, any Error>] = []
    }

    private enum Step {
        case answer(ByteBuffer)
        /// A render is under way: wait for its body when it covers the request, else for its end.
        case wait
        /// Render as the slot's render, handing the body to those who wait.
        case render(Version)
    }

    /// Look again: the render a waiter counted on ended before it could register, or the one it
    /// waited to see end has ended.
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
                            guard let rendering = slots[key]?.rendering else { return false }
                            if rendering.version.covers(arrival, window: observationWindow) {
                                slots[key]!.rendering!.waiters.append(continuation)
                            } else {
                                slots[key]!.next.append(continuation)
                            }
                            return true
                        }
                        if !registered { continuation.resume(throwing: LookAgain()) }
                    }
                } catch is LookAgain {
                    continue
                }
            case .render(let version):
                return try finish(key, version, Result { try render() })
            }
        }
    }

    private func next(_ key: String, _ arrival: Version, _ current: () -> Version) -> Step {
        slots.withLock { slots in
            var slot = slots[key] ?? Slot()
            defer { slots[key] = slot }
            if let kept = slot.kept, kept.version.covers(arrival, window: observationWindow) { return .answer(kept.body) }
            guard slot.rendering == nil else { return .wait }
            let version = current()
            slot.rendering = (version, [])
            return .render(version)
        }
    }

    /// Keeps a newer body, hands the render's outcome to those who wait for it, and has those
    /// who wait for their turn look again (one of them renders next).
    private func finish(_ key: String, _ version: Version, _ result: Result<ByteBuffer, any Error>) throws -> ByteBuffer {
        let (waiters, next) = slots.withLock { slots in
            if slots.count > capacity { slots = slots.filter { $0.value.rendering != nil } }
            var slot = slots[key] ?? Slot()
            defer { slots[key] = slot }
            if case .success(let body) = result, slot.kept.map({ version.observed >= $0.version.observed }) ?? true {
                slot.kept = (version, body)
            }
            let waiters = slot.rendering?.waiters ?? []
            let next = slot.next
            slot.rendering = nil
            slot.next = []
            return (waiters, next)
        }
        waiters.forEach { $0.resume(with: result) }
        next.forEach { $0.resume(throwing: LookAgain()) }
        return try result.get()
    }
}

import OCI
import Synchronization

/// The progress of one pull, updated from its concurrent layer downloads; every change is
/// handed to the current subscribers.
final class ProgressTracker: Sendable {
    private let state: Mutex<(progress: PullProgress, handlers: [Int: PullProgressHandler], nextID: Int)>
    /// Told of every change (the puller's version counter for readers that cache what they show).
    private let changed: @Sendable () -> Void

    init(reference: ImageReference, changed: @escaping @Sendable () -> Void = {}) {
        state = Mutex((PullProgress(reference: reference, resolvedDigest: nil, layers: []), [:], 0))
        self.changed = changed
    }

    var snapshot: PullProgress { state.withLock { $0.progress } }

    /// Adds a subscriber and gives it the current snapshot at once, so that a caller joining a
    /// pull already under way sees where it stands.
    @discardableResult
    func subscribe(_ handler: @escaping PullProgressHandler) -> Int {
        let (id, snapshot) = state.withLock { state in
            state.nextID += 1
            state.handlers[state.nextID] = handler
            return (state.nextID, state.progress)
        }
        handler(snapshot)
        return id
    }

    func resolved(_ digest: Digest, layers: [Descriptor]) {
        update {
            $0.resolvedDigest = digest
            $0.layers = layers.map {
                LayerProgress(digest: $0.digest, mediaType: $0.mediaType, total: $0.size, done: 0, state: .waiting)
            }
        }
    }

    func layer(_ index: Int, state newState: LayerProgress.State, done: Int64? = nil) {
        update {
            $0.layers[index].state = newState
            if let done { $0.layers[index].done = done }
        }
    }

    func layer(_ index: Int, advancedBy bytes: Int64) {
        update { $0.layers[index].done += bytes }
    }

    private func update(_ change: (inout PullProgress) -> Void) {
        let (snapshot, handlers) = state.withLock { state in
            change(&state.progress)
            return (state.progress, Array(state.handlers.values))
        }
        changed()
        for handler in handlers { handler(snapshot) }
    }
}

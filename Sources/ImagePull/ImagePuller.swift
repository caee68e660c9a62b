import ContainerdClient
import Logging
import OCI
import RegistryClient
import Synchronization

/// Pulls images into containerd. Two pulls of the same reference share one transfer: the
/// second caller waits for the first and sees its progress.
public actor ImagePuller {
    public let containerd: ContainerdClient
    public let registry: RegistryClient
    public let platform: Platform
    public let maxConcurrentDownloads: Int
    /// Put on every image record and pull lease this puller makes: the node's identity label,
    /// so a berthd sharing the namespace can tell the images another node pinned.
    public let labels: [String: String]
    private let logger: Logger

    private struct InFlight: Sendable {
        var task: Task<PulledImage, any Error>
        var progress: ProgressTracker
    }

    /// Pulls under way. The puller owns these tasks: each removes itself when it ends. Entries
    /// are added and removed on the actor; the lock lets the API read a pull's progress on
    /// every GET without a hop onto it.
    private let inFlight = Mutex<[ImageReference: InFlight]>([:])
    /// The last pull of each recent reference, which the next pull of it checks first.
    private let finishedPulls = Mutex(FinishedPulls(capacity: 64))
    private let changes = Atomic<UInt64>(0)

    public init(containerd: ContainerdClient, registry: RegistryClient, platform: Platform = .host,
                maxConcurrentDownloads: Int = 3, labels: [String: String] = [:], logger: Logger = Logger(label: "berth.pull")) {
        self.containerd = containerd
        self.registry = registry
        self.platform = platform
        self.maxConcurrentDownloads = max(1, maxConcurrentDownloads)
        self.labels = labels
        self.logger = logger
    }

    public func pull(_ reference: ImageReference, progress: PullProgressHandler? = nil) async throws -> PulledImage {
        let pull: InFlight
        if let existing = inFlight.withLock({ $0[reference] }) {
            pull = existing
        } else {
            let tracker = ProgressTracker(reference: reference) { [weak self] in self?.changes.add(1, ordering: .relaxed) }
            let operation = PullOperation(reference: reference, containerd: containerd, registry: registry,
                                          platform: platform, progress: tracker,
                                          maxConcurrentDownloads: maxConcurrentDownloads, labels: labels,
                                          previous: finishedPulls.withLock { $0[reference] }, logger: logger)
            // Isolated to this actor, so the entry is removed on the actor when the pull ends;
            // the pull itself runs off the actor. A caller that is cancelled stops waiting,
            // but the transfer goes on for the others.
            let task = Task {
                defer { self.finished(reference) }
                let image = try await operation.run()
                self.finishedPulls.withLock { $0.record(image) }
                return image
            }
            pull = InFlight(task: task, progress: tracker)
            inFlight.withLock { $0[reference] = pull }
        }
        if let progress { pull.progress.subscribe(progress) }
        return try await pull.task.value
    }

    private func finished(_ reference: ImageReference) {
        inFlight.withLock { _ = $0.removeValue(forKey: reference) }
        changes.add(1, ordering: .relaxed)
    }

    /// Whether a pull of `reference` is under way (for callers reporting a `pulling` status).
    public func isPulling(_ reference: ImageReference) -> Bool {
        inFlight.withLock { $0[reference] } != nil
    }

    /// Where the pull of `reference` under way stands; nil when none is.
    public nonisolated func progress(of reference: ImageReference) -> PullProgress? {
        inFlight.withLock { $0[reference] }?.progress.snapshot
    }

    /// Changes whenever a pull under way makes progress, starts or ends.
    public nonisolated var progressVersion: UInt64 { changes.load(ordering: .relaxed) }
}

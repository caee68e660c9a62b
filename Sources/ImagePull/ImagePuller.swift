import ContainerdClient
import Logging
import OCI
import RegistryClient

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

    private struct InFlight {
        var task: Task<PulledImage, any Error>
        var progress: ProgressTracker
    }

    /// Pulls under way. The puller owns these tasks: each removes itself when it ends.
    private var inFlight: [ImageReference: InFlight] = [:]

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
        if let existing = inFlight[reference] {
            pull = existing
        } else {
            let tracker = ProgressTracker(reference: reference)
            let operation = PullOperation(reference: reference, containerd: containerd, registry: registry,
                                          platform: platform, progress: tracker,
                                          maxConcurrentDownloads: maxConcurrentDownloads, labels: labels, logger: logger)
            // Isolated to this actor, so the entry is removed on the actor when the pull ends;
            // the pull itself runs off the actor. A caller that is cancelled stops waiting,
            // but the transfer goes on for the others.
            let task = Task {
                defer { self.inFlight[reference] = nil }
                return try await operation.run()
            }
            pull = InFlight(task: task, progress: tracker)
            inFlight[reference] = pull
        }
        if let progress { pull.progress.subscribe(progress) }
        return try await pull.task.value
    }

    /// Whether a pull of `reference` is under way (for callers reporting a `pulling` status).
    public func isPulling(_ reference: ImageReference) -> Bool {
        inFlight[reference] != nil
    }
}

import Foundation
import Runtime
import Secrets
import Store

/// What the API asks of the rest of Berth once a change is recorded in the store. The API
/// never drives the runtime itself: it records desired state and says that it changed.
public protocol ContainerBackend: Sendable {
    /// The container's desired state changed: converge it, in the background.
    func apply(_ containerID: String)
    /// True once the node's containers were recovered after start.
    var isReady: Bool { get }
    /// Log files of revisions.
    var logs: ContainerLogs { get }
    /// The node's volumes: their filesystems and the files in them.
    var volumes: VolumeStorage { get }
    /// Seals secret values before the store records them.
    var secretBox: SecretBox { get }
    /// The node's GPUs by model, with how many are free.
    func gpuModels() async throws -> [GPUModel]
    /// Chooses `count` whole GPUs of one model (`model`, if given) among those not taken; the
    /// store runs it inside the write that records the revision. It throws `APIError.capacity`
    /// when too few are free and `APIError.invalid` for a model the node does not have.
    func gpuChooser(count: Int, model: String?) async throws -> GPUChooser
    /// The container's instances as the runtime runs them (every revision's, the serving
    /// revision's first), and how many the autoscaler wants of the serving one.
    func instances(of container: StoredContainer) -> ContainerInstances
    /// Where the pull of `image` (a revision's image as written) stands, while one is under way.
    func pullProgress(image: String) -> PullReport?
    /// Changes whenever an instance changes, the autoscaler decides or a pull makes progress:
    /// rendered lists that show instances and pulls are valid while it stays the same.
    var instancesVersion: UInt64 { get }
}

extension ContainerBackend {
    /// Writes wait for recovery: until the node knows what runs, a change could be undone by it.
    func requireRecovered() throws {
        guard isReady else { throw APIError.unavailable("berthd is recovering the node's containers; try again shortly") }
    }
}

/// One instance of a container revision: the contract's Instance.
public struct InstanceReport: Sendable, Equatable, Encodable {
    public var revision: Int
    /// 0 for the first instance (the one that scales to zero and wakes).
    public var instance: Int
    /// pending, pulling, starting, running, paused, stopped or failed.
    public var status: String
    /// When it entered that status.
    public var since: Date?
    /// Requests it serves now.
    public var inFlight: Int

    public init(revision: Int, instance: Int, status: String, since: Date?, inFlight: Int) {
        self.revision = revision
        self.instance = instance
        self.status = status
        self.since = since
        self.inFlight = inFlight
    }
}

public struct ContainerInstances: Sendable, Equatable {
    /// Instances of the serving revision the autoscaler wants (0 when scaled to zero).
    public var desired: Int
    public var list: [InstanceReport]

    public init(desired: Int, list: [InstanceReport]) {
        self.desired = desired
        self.list = list
    }

    /// The container's `instances` counts, of its serving revision.
    func counts(serving: Int) -> InstanceCounts {
        let own = list.filter { $0.revision == serving }
        return InstanceCounts(desired: desired, ready: own.filter { $0.status == "running" }.count,
                              starting: own.filter { ["pending", "pulling", "starting"].contains($0.status) }.count)
    }
}

/// The contract's Container.instances.
struct InstanceCounts: Sendable, Equatable, Encodable {
    var desired: Int
    var ready: Int
    var starting: Int
}

/// A GPU model on the node: the contract's GPUModel.
public struct GPUModel: Sendable, Equatable, Codable {
    public var model: String
    public var memory: String
    public var count: Int
    public var available: Int

    public init(model: String, memory: String, count: Int, available: Int) {
        self.model = model
        self.memory = memory
        self.count = count
        self.available = available
    }
}

/// Where the pull of a revision's image stands: the contract's Container.pull, shown while the
/// image of one of the container's revisions is being pulled.
public struct PullReport: Sendable, Equatable, Encodable {
    public struct Count: Sendable, Equatable, Encodable {
        public var done: Int64
        public var total: Int64

        public init(done: Int64, total: Int64) {
            self.done = done
            self.total = total
        }
    }

    /// `resolving` (asking the registry for the manifest), `downloading` or `unpacking`.
    public var phase: String
    /// Layers downloaded (or already present) of the image's layers.
    public var layers: Count
    /// Compressed bytes downloaded of the layers' sizes.
    public var bytes: Count
    /// The revision whose image it is (filled in by the API).
    public var revision: Int
    public var image: String

    public init(phase: String, layers: Count, bytes: Count, revision: Int = 0, image: String = "") {
        self.phase = phase
        self.layers = layers
        self.bytes = bytes
        self.revision = revision
        self.image = image
    }
}

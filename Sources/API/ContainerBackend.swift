import Runtime
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
    /// The node's GPUs by model, with how many are free.
    func gpuModels() async throws -> [GPUModel]
    /// Chooses `count` whole GPUs of one model (`model`, if given) among those not taken; the
    /// store runs it inside the write that records the revision. It throws `APIError.capacity`
    /// when too few are free and `APIError.invalid` for a model the node does not have.
    func gpuChooser(count: Int, model: String?) async throws -> GPUChooser
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

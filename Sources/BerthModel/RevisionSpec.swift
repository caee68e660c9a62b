/// Everything needed to run one revision of a container; immutable once recorded.
///
/// The API validates requests before one is made (see the API contract): `cpu` > 0, `gpu` ≥ 0,
/// `port` in 1...65535, env names POSIX-style without NUL bytes. `memory` is `ram` in the API.
public struct RevisionSpec: Hashable, Sendable, Codable {
    /// The normalised image reference, e.g. "docker.io/nginxdemos/hello:0.4".
    public var image: String
    /// Cores: 0.25, 1, 1.5.
    public var cpu: Double
    public var memory: Quantity
    public var ephemeralStorage: Quantity
    /// Whole GPUs.
    public var gpu: Int
    /// The GPU model asked for, when the node has several; nil takes any one model.
    public var gpuModel: String?
    /// The port the container listens on; also its `PORT` variable.
    public var port: Int
    public var env: [String: String]
    /// Concurrency, instances and the request timeout.
    public var scaling: ScalingPolicy

    public init(image: String, cpu: Double, memory: Quantity, ephemeralStorage: Quantity, gpu: Int = 0,
                gpuModel: String? = nil, port: Int, env: [String: String] = [:], scaling: ScalingPolicy = .default) {
        self.image = image
        self.cpu = cpu
        self.memory = memory
        self.ephemeralStorage = ephemeralStorage
        self.gpu = gpu
        self.gpuModel = gpuModel
        self.port = port
        self.env = env
        self.scaling = scaling
    }
}

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
    /// Variables whose values are the owner's secrets: variable name → secret name. Only the
    /// names are in the spec; the runtime opens the values when it starts an instance.
    public var secretEnv: [String: String]
    /// The owner's volumes, by name, and where they appear.
    public var volumes: [VolumeMount]
    /// The owner's secrets given as files.
    public var secretMounts: [SecretMount]
    /// Concurrency, instances and the request timeout.
    public var scaling: ScalingPolicy

    public init(image: String, cpu: Double, memory: Quantity, ephemeralStorage: Quantity, gpu: Int = 0,
                gpuModel: String? = nil, port: Int, env: [String: String] = [:], secretEnv: [String: String] = [:],
                volumes: [VolumeMount] = [], secretMounts: [SecretMount] = [], scaling: ScalingPolicy = .default) {
        self.image = image
        self.cpu = cpu
        self.memory = memory
        self.ephemeralStorage = ephemeralStorage
        self.gpu = gpu
        self.gpuModel = gpuModel
        self.port = port
        self.env = env
        self.secretEnv = secretEnv
        self.volumes = volumes
        self.secretMounts = secretMounts
        self.scaling = scaling
    }
}

extension RevisionSpec {
    /// The secrets the revision uses, by name, sorted.
    public var secretNames: [String] { Set(secretEnv.values).union(secretMounts.map(\.secret)).sorted() }
}

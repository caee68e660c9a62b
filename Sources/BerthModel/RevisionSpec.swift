/// Everything needed to run one revision of a container; immutable once recorded.
///
/// The API validates requests before one is made (see the API contract): `cpu` > 0, `gpu` ≥ 0,
/// `port` in 1...65535, env names POSIX-style without NUL bytes. `memory` is `ram` in the API,
/// `servingProtocol` is `protocol`.
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
    /// The HTTP the container serves on `port`.
    public var servingProtocol: ServingProtocol
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
                gpuModel: String? = nil, port: Int, servingProtocol: ServingProtocol = .http1, env: [String: String] = [:],
                secretEnv: [String: String] = [:], volumes: [VolumeMount] = [], secretMounts: [SecretMount] = [],
                scaling: ScalingPolicy = .default) {
        self.image = image
        self.cpu = cpu
        self.memory = memory
        self.ephemeralStorage = ephemeralStorage
        self.gpu = gpu
        self.gpuModel = gpuModel
        self.port = port
        self.servingProtocol = servingProtocol
        self.env = env
        self.secretEnv = secretEnv
        self.volumes = volumes
        self.secretMounts = secretMounts
        self.scaling = scaling
    }
}

extension RevisionSpec {
    /// Decoded by hand only so that a spec encoded before `servingProtocol` existed (records
    /// logged or cached as JSON) still decodes, as HTTP/1.1; every other field is required.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(image: try c.decode(String.self, forKey: .image), cpu: try c.decode(Double.self, forKey: .cpu),
                  memory: try c.decode(Quantity.self, forKey: .memory),
                  ephemeralStorage: try c.decode(Quantity.self, forKey: .ephemeralStorage),
                  gpu: try c.decode(Int.self, forKey: .gpu), gpuModel: try c.decodeIfPresent(String.self, forKey: .gpuModel),
                  port: try c.decode(Int.self, forKey: .port),
                  servingProtocol: try c.decodeIfPresent(ServingProtocol.self, forKey: .servingProtocol) ?? .http1,
                  env: try c.decode([String: String].self, forKey: .env),
                  secretEnv: try c.decode([String: String].self, forKey: .secretEnv),
                  volumes: try c.decode([VolumeMount].self, forKey: .volumes),
                  secretMounts: try c.decode([SecretMount].self, forKey: .secretMounts),
                  scaling: try c.decode(ScalingPolicy.self, forKey: .scaling))
    }

    /// The secrets the revision uses, by name, sorted.
    public var secretNames: [String] { Set(secretEnv.values).union(secretMounts.map(\.secret)).sorted() }
}

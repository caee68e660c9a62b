/// One whole NVIDIA GPU on the node.
public struct GPUDevice: Sendable, Hashable, Codable {
    /// The id allocations are stored under: the GPU UUID ("GPU-8c1…") when known, else
    /// "nvidia<minor>", else the CDI name. UUIDs survive reboots and re-enumeration; minors may not.
    public var id: String
    /// As the driver names it ("NVIDIA H200"); "unknown" when nothing says.
    public var model: String
    public var uuid: String?
    /// Total memory (nvidia-smi's memory.total); nil when nvidia-smi is missing or did not say.
    public var memoryBytes: Int64?
    /// The N of /dev/nvidiaN.
    public var minor: Int?
    /// The fully qualified CDI name ("nvidia.com/gpu=0") when discovered from a CDI spec.
    public var cdiName: String?

    public init(id: String, model: String, uuid: String? = nil, memoryBytes: Int64? = nil, minor: Int? = nil,
                cdiName: String? = nil) {
        self.id = id
        self.model = model
        self.uuid = uuid
        self.memoryBytes = memoryBytes
        self.minor = minor
        self.cdiName = cdiName
    }

    public static let unknownModel = "unknown"
}

import Foundation

/// The OCI runtime specification (config.json) as containerd stores it with a container and
/// hands to runc: the subset Berth writes, with the field names of runtime-spec 1.0.2 / 1.1.
/// Optional fields that are nil are left out of the JSON, as Go's `omitempty` does.
public struct RuntimeSpec: Codable, Hashable, Sendable {
    public var ociVersion: String
    public var process: Process?
    public var root: Root?
    public var hostname: String?
    public var mounts: [Mount]?
    public var hooks: Hooks?
    public var annotations: [String: String]?
    public var linux: Linux?

    public init(ociVersion: String = RuntimeSpec.version, process: Process? = nil, root: Root? = nil, hostname: String? = nil,
                mounts: [Mount]? = nil, hooks: Hooks? = nil, annotations: [String: String]? = nil, linux: Linux? = nil) {
        self.ociVersion = ociVersion
        self.process = process
        self.root = root
        self.hostname = hostname
        self.mounts = mounts
        self.hooks = hooks
        self.annotations = annotations
        self.linux = linux
    }

    /// What containerd 1.6 writes (its vendored runtime-spec's `specs.Version`).
    public static let version = "1.0.2-dev"

    /// The JSON containerd stores as the container's spec (type URL
    /// types.containerd.io/opencontainers/runtime-spec/1/Spec): keys sorted, so that the same spec
    /// always encodes to the same bytes.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    public static func decode(_ data: Data) throws -> RuntimeSpec {
        try JSONDecoder().decode(RuntimeSpec.self, from: data)
    }
}

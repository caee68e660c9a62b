/// A Container Device Interface spec file (github.com/cncf-tags/container-device-interface,
/// versions 0.3–0.8), as NVIDIA's container toolkit writes them (`nvidia-ctk cdi generate`) to
/// /etc/cdi and /var/run/cdi: the fields Berth uses; others are ignored.
public struct CDISpec: Sendable, Hashable, Codable {
    public var cdiVersion: String
    /// "vendor/class": "nvidia.com/gpu".
    public var kind: String
    public var devices: [Device]
    /// Edits for every container that gets any device of this spec.
    public var containerEdits: ContainerEdits?

    public init(cdiVersion: String, kind: String, devices: [Device], containerEdits: ContainerEdits? = nil) {
        self.cdiVersion = cdiVersion
        self.kind = kind
        self.devices = devices
        self.containerEdits = containerEdits
    }

    public struct Device: Sendable, Hashable, Codable {
        /// "0", "GPU-8c1…", "all", or "0:1" for a MIG device.
        public var name: String
        public var containerEdits: ContainerEdits?

        public init(name: String, containerEdits: ContainerEdits?) {
            self.name = name
            self.containerEdits = containerEdits
        }
    }

    public struct ContainerEdits: Sendable, Hashable, Codable {
        /// "NAME=value".
        public var env: [String]?
        public var deviceNodes: [DeviceNode]?
        public var hooks: [Hook]?
        public var mounts: [Mount]?
        public var additionalGids: [UInt32]?

        public init(env: [String]? = nil, deviceNodes: [DeviceNode]? = nil, hooks: [Hook]? = nil, mounts: [Mount]? = nil,
                    additionalGids: [UInt32]? = nil) {
            self.env = env
            self.deviceNodes = deviceNodes
            self.hooks = hooks
            self.mounts = mounts
            self.additionalGids = additionalGids
        }

        var isEmpty: Bool {
            (env ?? []).isEmpty && (deviceNodes ?? []).isEmpty && (hooks ?? []).isEmpty && (mounts ?? []).isEmpty
                && (additionalGids ?? []).isEmpty
        }

        /// `other`'s edits after these, as the CDI library merges a spec's and its devices'.
        mutating func append(_ other: ContainerEdits) {
            func joined<T>(_ a: [T]?, _ b: [T]?) -> [T]? { a == nil && b == nil ? nil : (a ?? []) + (b ?? []) }
            env = joined(env, other.env)
            deviceNodes = joined(deviceNodes, other.deviceNodes)
            hooks = joined(hooks, other.hooks)
            mounts = joined(mounts, other.mounts)
            additionalGids = joined(additionalGids, other.additionalGids)
        }
    }

    public struct DeviceNode: Sendable, Hashable, Codable {
        /// In the container.
        public var path: String
        /// On the host, when not `path`.
        public var hostPath: String?
        /// "c" or "b" (also "u", "p"); read from the host node when absent, as are the numbers.
        public var type: String?
        public var major: Int64?
        public var minor: Int64?
        public var fileMode: UInt32?
        /// Device cgroup access, "rwm" when absent.
        public var permissions: String?
        public var uid: UInt32?
        public var gid: UInt32?

        public init(path: String, hostPath: String? = nil, type: String? = nil, major: Int64? = nil, minor: Int64? = nil,
                    fileMode: UInt32? = nil, permissions: String? = nil, uid: UInt32? = nil, gid: UInt32? = nil) {
            self.path = path
            self.hostPath = hostPath
            self.type = type
            self.major = major
            self.minor = minor
            self.fileMode = fileMode
            self.permissions = permissions
            self.uid = uid
            self.gid = gid
        }
    }

    public struct Mount: Sendable, Hashable, Codable {
        public var hostPath: String
        public var containerPath: String
        public var options: [String]?
        public var type: String?

        public init(hostPath: String, containerPath: String, options: [String]? = nil, type: String? = nil) {
            self.hostPath = hostPath
            self.containerPath = containerPath
            self.options = options
            self.type = type
        }
    }

    public struct Hook: Sendable, Hashable, Codable {
        /// An OCI hook stage: "prestart", "createRuntime", "createContainer", "startContainer",
        /// "poststart", "poststop".
        public var hookName: String
        public var path: String
        public var args: [String]?
        public var env: [String]?
        public var timeout: Int?

        public init(hookName: String, path: String, args: [String]? = nil, env: [String]? = nil, timeout: Int? = nil) {
            self.hookName = hookName
            self.path = path
            self.args = args
            self.env = env
            self.timeout = timeout
        }
    }
}

extension CDISpec {
    /// The problems the CDI library's validation would refuse the spec for, one line each.
    func problems() -> [String] {
        var problems: [String] = []
        if cdiVersion.isEmpty { problems.append("cdiVersion is missing") }
        let kindParts = kind.split(separator: "/", omittingEmptySubsequences: false)
        if kindParts.count != 2 || kindParts.contains(where: \.isEmpty) {
            problems.append("kind \"\(kind)\" is not vendor/class")
        }
        if devices.isEmpty { problems.append("no devices") }
        var names = Set<String>()
        for device in devices {
            let label = "device \"\(device.name)\""
            if device.name.isEmpty || !device.name.allSatisfy(Self.isNameCharacter) {
                problems.append("\(label): a name must be letters, digits, '_', '.', ':' or '-'")
            }
            if !names.insert(device.name).inserted { problems.append("\(label) is listed twice") }
            guard let edits = device.containerEdits, !edits.isEmpty else {
                problems.append("\(label) has no containerEdits")
                continue
            }
            problems += edits.problems().map { "\(label): \($0)" }
        }
        problems += (containerEdits?.problems() ?? []).map { "containerEdits: \($0)" }
        return problems
    }

    static func isNameCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || "_.:-".contains(character))
    }

    static let hookStages = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
}

extension CDISpec.ContainerEdits {
    func problems() -> [String] {
        var problems: [String] = []
        for variable in env ?? [] where !variable.contains("=") || variable.hasPrefix("=") {
            problems.append("env \"\(variable)\" is not NAME=value")
        }
        for node in deviceNodes ?? [] {
            if !node.path.hasPrefix("/") { problems.append("device node path \"\(node.path)\" is not absolute") }
            if let type = node.type, !["c", "b", "u", "p"].contains(type) {
                problems.append("device node \(node.path): type \"\(type)\" is not c, b, u or p")
            }
            if let permissions = node.permissions, permissions.isEmpty || !permissions.allSatisfy({ "rwm".contains($0) }) {
                problems.append("device node \(node.path): permissions \"\(permissions)\" are not of r, w, m")
            }
        }
        for mount in mounts ?? [] {
            if mount.hostPath.isEmpty { problems.append("mount at \(mount.containerPath) has no hostPath") }
            if !mount.containerPath.hasPrefix("/") {
                problems.append("mount containerPath \"\(mount.containerPath)\" is not absolute")
            }
        }
        for hook in hooks ?? [] {
            if !CDISpec.hookStages.contains(hook.hookName) { problems.append("hook \(hook.path): unknown hookName \"\(hook.hookName)\"") }
            if hook.path.isEmpty { problems.append("a \(hook.hookName) hook has no path") }
        }
        return problems
    }
}

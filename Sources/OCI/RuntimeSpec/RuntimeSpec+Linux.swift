extension RuntimeSpec {
    /// `linux` (config-linux.md): namespaces, id mappings, devices, cgroup resources, masked paths.
    public struct Linux: Codable, Hashable, Sendable {
        public var uidMappings: [IDMapping]?
        public var gidMappings: [IDMapping]?
        public var sysctl: [String: String]?
        public var resources: Resources?
        public var cgroupsPath: String?
        public var namespaces: [Namespace]?
        public var devices: [Device]?
        public var maskedPaths: [String]?
        public var readonlyPaths: [String]?
        public var mountLabel: String?
        /// The syscall filter runc loads just before it starts the process (`SeccompProfile`).
        public var seccomp: Seccomp?

        public init(uidMappings: [IDMapping]? = nil, gidMappings: [IDMapping]? = nil, sysctl: [String: String]? = nil,
                    resources: Resources? = nil, cgroupsPath: String? = nil, namespaces: [Namespace]? = nil,
                    devices: [Device]? = nil, maskedPaths: [String]? = nil, readonlyPaths: [String]? = nil,
                    mountLabel: String? = nil, seccomp: Seccomp? = nil) {
            self.uidMappings = uidMappings
            self.gidMappings = gidMappings
            self.sysctl = sysctl
            self.resources = resources
            self.cgroupsPath = cgroupsPath
            self.namespaces = namespaces
            self.devices = devices
            self.maskedPaths = maskedPaths
            self.readonlyPaths = readonlyPaths
            self.mountLabel = mountLabel
            self.seccomp = seccomp
        }
    }
}

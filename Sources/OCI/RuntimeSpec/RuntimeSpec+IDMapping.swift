extension RuntimeSpec {
    /// An entry of `linux.uidMappings` / `gidMappings` (config-linux.md, "User namespace mappings").
    public struct IDMapping: Codable, Hashable, Sendable {
        public var containerID: UInt32
        public var hostID: UInt32
        public var size: UInt32

        public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
            self.containerID = containerID
            self.hostID = hostID
            self.size = size
        }
    }
}

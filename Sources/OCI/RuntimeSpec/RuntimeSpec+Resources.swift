extension RuntimeSpec {
    /// `linux.resources` (config-linux.md, "Control groups").
    public struct Resources: Codable, Hashable, Sendable {
        public var devices: [DeviceCgroup]?
        public var memory: Memory?
        public var cpu: CPU?
        public var pids: Pids?
        public var blockIO: BlockIO?

        public init(devices: [DeviceCgroup]? = nil, memory: Memory? = nil, cpu: CPU? = nil, pids: Pids? = nil,
                    blockIO: BlockIO? = nil) {
            self.devices = devices
            self.memory = memory
            self.cpu = cpu
            self.pids = pids
            self.blockIO = blockIO
        }
    }
}

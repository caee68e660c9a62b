extension RuntimeSpec {
    /// `linux.resources.memory` (config-linux.md, "Memory").
    public struct Memory: Codable, Hashable, Sendable {
        /// Bytes.
        public var limit: Int64?
        public var reservation: Int64?
        /// Memory plus swap, bytes (cgroup v1 semantics; runc converts for v2).
        public var swap: Int64?
        public var kernel: Int64?
        public var swappiness: UInt64?
        public var disableOOMKiller: Bool?

        public init(limit: Int64? = nil, reservation: Int64? = nil, swap: Int64? = nil, kernel: Int64? = nil,
                    swappiness: UInt64? = nil, disableOOMKiller: Bool? = nil) {
            self.limit = limit
            self.reservation = reservation
            self.swap = swap
            self.kernel = kernel
            self.swappiness = swappiness
            self.disableOOMKiller = disableOOMKiller
        }
    }
}

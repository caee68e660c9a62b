extension RuntimeSpec {
    /// `linux.resources.cpu` (config-linux.md, "CPU").
    public struct CPU: Codable, Hashable, Sendable {
        public var shares: UInt64?
        /// Microseconds per `period`.
        public var quota: Int64?
        /// Microseconds.
        public var period: UInt64?
        public var realtimeRuntime: Int64?
        public var realtimePeriod: UInt64?
        public var cpus: String?
        public var mems: String?

        public init(shares: UInt64? = nil, quota: Int64? = nil, period: UInt64? = nil, realtimeRuntime: Int64? = nil,
                    realtimePeriod: UInt64? = nil, cpus: String? = nil, mems: String? = nil) {
            self.shares = shares
            self.quota = quota
            self.period = period
            self.realtimeRuntime = realtimeRuntime
            self.realtimePeriod = realtimePeriod
            self.cpus = cpus
            self.mems = mems
        }
    }
}

extension RuntimeSpec {
    /// An entry of `process.rlimits` (config.md, "POSIX process").
    public struct Rlimit: Codable, Hashable, Sendable {
        /// "RLIMIT_NOFILE", …
        public var type: String
        public var hard: UInt64
        public var soft: UInt64

        public init(type: String, hard: UInt64, soft: UInt64) {
            self.type = type
            self.hard = hard
            self.soft = soft
        }
    }
}

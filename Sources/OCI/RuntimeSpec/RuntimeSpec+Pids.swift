extension RuntimeSpec {
    /// `linux.resources.pids` (config-linux.md, "Pids").
    public struct Pids: Codable, Hashable, Sendable {
        public var limit: Int64

        public init(limit: Int64) {
            self.limit = limit
        }
    }
}

extension RuntimeSpec {
    /// One program of `hooks`.
    public struct Hook: Codable, Hashable, Sendable {
        public var path: String
        public var args: [String]?
        public var env: [String]?
        /// Seconds.
        public var timeout: Int?

        public init(path: String, args: [String]? = nil, env: [String]? = nil, timeout: Int? = nil) {
            self.path = path
            self.args = args
            self.env = env
            self.timeout = timeout
        }
    }
}

extension RuntimeSpec {
    /// An entry of `mounts` (config.md, "Mounts"), made in order.
    public struct Mount: Codable, Hashable, Sendable {
        public var destination: String
        public var type: String?
        public var source: String?
        public var options: [String]?

        public init(destination: String, type: String? = nil, source: String? = nil, options: [String]? = nil) {
            self.destination = destination
            self.type = type
            self.source = source
            self.options = options
        }

        /// A recursive, private, read-only bind: what containerd and Docker give files bound from
        /// the host (/etc/hosts, driver libraries).
        public static let readonlyBindOptions = ["rbind", "rprivate", "ro"]
    }
}

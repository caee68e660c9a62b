extension RuntimeSpec {
    /// An entry of `linux.namespaces` (config-linux.md, "Namespaces"): a new one, or one to join by `path`.
    public struct Namespace: Codable, Hashable, Sendable {
        /// "pid", "network", "mount", "ipc", "uts", "user", "cgroup".
        public var type: String
        public var path: String?

        public init(type: String, path: String? = nil) {
            self.type = type
            self.path = path
        }
    }
}

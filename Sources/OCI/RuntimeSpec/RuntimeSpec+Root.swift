extension RuntimeSpec {
    /// `root` (config.md, "Root"): the root filesystem, relative to the bundle.
    public struct Root: Codable, Hashable, Sendable {
        public var path: String
        public var readonly: Bool?

        public init(path: String, readonly: Bool? = nil) {
            self.path = path
            self.readonly = readonly
        }
    }
}

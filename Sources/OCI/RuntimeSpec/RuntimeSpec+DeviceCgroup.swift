extension RuntimeSpec {
    /// A device cgroup rule: `allow` with `type` ("a", "c", "b"), `major`/`minor` (nil is `*`)
    /// and `access` ("rwm").
    public struct DeviceCgroup: Codable, Hashable, Sendable {
        public var allow: Bool
        public var type: String?
        public var major: Int64?
        public var minor: Int64?
        public var access: String?

        public init(allow: Bool, type: String? = nil, major: Int64? = nil, minor: Int64? = nil, access: String? = nil) {
            self.allow = allow
            self.type = type
            self.major = major
            self.minor = minor
            self.access = access
        }
    }
}

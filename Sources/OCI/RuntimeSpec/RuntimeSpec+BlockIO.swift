extension RuntimeSpec {
    /// `linux.resources.blockIO` (config-linux.md, "Block IO").
    public struct BlockIO: Codable, Hashable, Sendable {
        public var weight: UInt16?
        public var leafWeight: UInt16?

        public init(weight: UInt16? = nil, leafWeight: UInt16? = nil) {
            self.weight = weight
            self.leafWeight = leafWeight
        }
    }
}

extension RuntimeSpec {
    /// A condition on argument `index` (0-based): `argument op value`, or for
    /// `SCMP_CMP_MASKED_EQ`, `argument & value == valueTwo`.
    public struct SeccompArg: Codable, Hashable, Sendable {
        public var index: UInt32
        public var value: UInt64
        public var valueTwo: UInt64?
        public var op: SeccompOperator

        public init(index: UInt32, value: UInt64, valueTwo: UInt64? = nil, op: SeccompOperator) {
            self.index = index
            self.value = value
            self.valueTwo = valueTwo
            self.op = op
        }
    }
}

extension RuntimeSpec {
    /// A comparison of a seccomp argument condition (libseccomp's `SCMP_CMP_*`).
    public enum SeccompOperator: String, Codable, Hashable, Sendable {
        case notEqual = "SCMP_CMP_NE"
        case lessThan = "SCMP_CMP_LT"
        case lessOrEqual = "SCMP_CMP_LE"
        case equalTo = "SCMP_CMP_EQ"
        case greaterOrEqual = "SCMP_CMP_GE"
        case greaterThan = "SCMP_CMP_GT"
        case maskedEqual = "SCMP_CMP_MASKED_EQ"
    }
}

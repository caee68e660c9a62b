/// `linux.seccomp` of the OCI runtime spec (config-linux.md, "Seccomp"), with its field names;
/// nil optionals are left out of the JSON as Go's `omitempty` does. runc turns it into a BPF
/// filter with libseccomp and loads it just before it executes the container's process.
extension RuntimeSpec {
    public struct Seccomp: Codable, Hashable, Sendable {
        /// What a syscall no rule matches gets.
        public var defaultAction: SeccompAction
        /// The errno of `defaultAction` when it is `SCMP_ACT_ERRNO` (runc's default is EPERM).
        public var defaultErrnoRet: UInt32?
        /// The ABIs the filter covers ("SCMP_ARCH_X86_64", …); a process of another ABI is refused.
        public var architectures: [String]?
        /// "SECCOMP_FILTER_FLAG_LOG", …
        public var flags: [String]?
        public var syscalls: [SeccompSyscall]?

        public init(defaultAction: SeccompAction, defaultErrnoRet: UInt32? = nil, architectures: [String]? = nil,
                    flags: [String]? = nil, syscalls: [SeccompSyscall]? = nil) {
            self.defaultAction = defaultAction
            self.defaultErrnoRet = defaultErrnoRet
            self.architectures = architectures
            self.flags = flags
            self.syscalls = syscalls
        }
    }

    /// A rule: `action` for the syscalls `names` when every condition in `args` holds. Several
    /// rules for one name are alternatives (any that matches applies).
    public struct SeccompSyscall: Codable, Hashable, Sendable {
        public var names: [String]
        public var action: SeccompAction
        /// The errno of an `SCMP_ACT_ERRNO` (or `SCMP_ACT_TRACE`) action.
        public var errnoRet: UInt32?
        public var args: [SeccompArg]?

        public init(names: [String], action: SeccompAction, errnoRet: UInt32? = nil, args: [SeccompArg]? = nil) {
            self.names = names
            self.action = action
            self.errnoRet = errnoRet
            self.args = args
        }
    }

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

    public enum SeccompAction: String, Codable, Hashable, Sendable {
        case kill = "SCMP_ACT_KILL"
        case killProcess = "SCMP_ACT_KILL_PROCESS"
        case killThread = "SCMP_ACT_KILL_THREAD"
        case trap = "SCMP_ACT_TRAP"
        case errno = "SCMP_ACT_ERRNO"
        case trace = "SCMP_ACT_TRACE"
        case allow = "SCMP_ACT_ALLOW"
        case log = "SCMP_ACT_LOG"
        case notify = "SCMP_ACT_NOTIFY"
    }

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

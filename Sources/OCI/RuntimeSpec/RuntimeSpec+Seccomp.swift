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
}

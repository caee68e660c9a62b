extension RuntimeSpec {
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
}

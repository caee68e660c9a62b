import OCI

/// How a container's syscalls are filtered: TOML `runtime.seccomp`.
public enum SeccompMode: String, Sendable, CaseIterable {
    /// `SeccompProfile.default(for:)`, for every container.
    case `default`
    /// No filter: the capability set alone limits what the kernel lets a container do. An
    /// operator's explicit loosening, for workloads that need a refused syscall.
    case unconfined

    /// The `linux.seccomp` of a container's spec; nil for none.
    public func profile(for architecture: SeccompProfile.Architecture? = .host) -> RuntimeSpec.Seccomp? {
        switch self {
        case .default: SeccompProfile.default(for: architecture)
        case .unconfined: nil
        }
    }
}

/// Berth's default seccomp profile: the same policy as Docker's and containerd's default for a
/// container without CAP_SYS_ADMIN and the other admin capabilities (moby `profiles/seccomp`,
/// containerd `contrib/seccomp`), written from the kernel's syscall tables (man 2 syscalls).
///
/// Every syscall not allowed here fails with EPERM. Refused, among others: the kernel keyring
/// (`keyctl`, `add_key`, `request_key`), `bpf`, `perf_event_open`, new namespaces (`unshare`,
/// `setns`, `clone` with a CLONE_NEW* flag), mounts (`mount`, `umount2`, `pivot_root`, the new
/// mount API), `ptrace` and the other cross-process calls (`process_vm_readv`/`writev`,
/// `kcmp`, `pidfd_getfd`), kernel modules and kexec, file handles (`open_by_handle_at`,
/// `name_to_handle_at`), `io_uring_*`, `userfaultfd`, the clocks, swap, reboot, `syslog`,
/// `acct`, quotas, NUMA policy, raw I/O ports, and sockets of the families AF_VSOCK and AF_ALG.
/// `clone3` fails with ENOSYS instead, so that libc falls back to `clone`, whose flags the filter
/// can read (clone3's are behind a pointer).
///
/// Where Berth is stricter than Docker (which allows `ptrace`, `process_vm_readv` and
/// `process_vm_writev` on kernels ≥ 4.8, and `name_to_handle_at`): a serverless container has no
/// use for a debugger, and ptrace is large attack surface with a history of privilege escalation
/// bugs; the pid namespace and the missing CAP_SYS_PTRACE already keep it to the container's own
/// processes, refusing it removes even that.
///
/// Names this host's libseccomp does not know (syscalls newer than it) are skipped by runc, and
/// runc makes syscalls above the highest number it knows fail with ENOSYS, so libc falls back to
/// older calls where it can.
public enum SeccompProfile {
    /// The ABIs a filter covers: the native one plus the 32-bit ones the CPU can also run, so a
    /// 32-bit binary cannot slip past a 64-bit-only filter.
    public enum Architecture: String, Sendable, CaseIterable {
        case x86_64
        case aarch64

        /// The machine Berth runs on; nil on others (then the filter covers the native ABI only).
        public static var host: Architecture? {
            #if arch(x86_64)
            .x86_64
            #elseif arch(arm64)
            .aarch64
            #else
            nil
            #endif
        }

        public var seccompArchitectures: [String] {
            switch self {
            case .x86_64: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
            case .aarch64: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
            }
        }

        /// Syscalls only this ABI family has.
        var ownSyscalls: [String] {
            switch self {
            case .x86_64: ["arch_prctl", "modify_ldt"]
            case .aarch64: ["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"]
            }
        }
    }

    public static let errnoEPERM: UInt32 = 1
    public static let errnoENOSYS: UInt32 = 38

    /// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID
    /// | CLONE_NEWNET (linux/sched.h): `clone` is allowed only with none of them set.
    public static let newNamespaceFlags: UInt64 = 0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000
        | 0x1000_0000 | 0x2000_0000 | 0x4000_0000

    /// The personality(2) values allowed: PER_LINUX, PER_LINUX32, UNAME26, PER_LINUX32|UNAME26,
    /// and 0xffffffff (query only). The others turn on legacy behaviour such as
    /// ADDR_NO_RANDOMIZE (no ASLR) or READ_IMPLIES_EXEC.
    public static let allowedPersonalities: [UInt64] = [0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff]

    /// socket(2) families refused: AF_ALG (38, the kernel crypto API) and AF_VSOCK (40, which on
    /// a VM reaches the hypervisor's host).
    public static let refusedSocketFamilies: [UInt64] = [38, 40]

    public static func `default`(for architecture: Architecture? = .host) -> RuntimeSpec.Seccomp {
        var rules = [RuntimeSpec.SeccompSyscall(names: allowed + (architecture?.ownSyscalls ?? []), action: .allow)]
        rules.append(RuntimeSpec.SeccompSyscall(names: ["clone"], action: .allow, args: [
            RuntimeSpec.SeccompArg(index: 0, value: newNamespaceFlags, valueTwo: 0, op: .maskedEqual),
        ]))
        rules.append(RuntimeSpec.SeccompSyscall(names: ["clone3"], action: .errno, errnoRet: errnoENOSYS))
        for persona in allowedPersonalities {
            rules.append(RuntimeSpec.SeccompSyscall(names: ["personality"], action: .allow, args: [
                RuntimeSpec.SeccompArg(index: 0, value: persona, op: .equalTo),
            ]))
        }
        for (mask, value) in socketFamilyBlocks {
            rules.append(RuntimeSpec.SeccompSyscall(names: ["socket"], action: .allow, args: [
                RuntimeSpec.SeccompArg(index: 0, value: mask, valueTwo: value, op: .maskedEqual),
            ]))
        }
        return RuntimeSpec.Seccomp(defaultAction: .errno, defaultErrnoRet: errnoEPERM,
                                   architectures: architecture?.seccompArchitectures, syscalls: rules)
    }

    /// The families socket(2) is allowed for, as (mask, value) blocks on the low 32 bits of
    /// argument 0: 0–37, 39 and 41–47 (AF_MAX is 46 on Linux 6.x), that is every family but AF_ALG
    /// and AF_VSOCK. Masked equality on the low half, not `<` and `>` on the whole register,
    /// because the kernel reads the family as an int: a comparison on 64 bits would let
    /// 0x1_0000_0028 through as "above AF_VSOCK" and the kernel would open an AF_VSOCK socket.
    /// A family outside the blocks gets EPERM where the kernel would say EAFNOSUPPORT.
    static let socketFamilyBlocks: [(mask: UInt64, value: UInt64)] = [
        (0xffff_ffe0, 0),   // 0–31
        (0xffff_fffc, 32),  // 32–35
        (0xffff_fffe, 36),  // 36–37
        (0xffff_ffff, 39),  // 39 (AF_NFC)
        (0xffff_ffff, 41),  // 41
        (0xffff_fffe, 42),  // 42–43
        (0xffff_fffc, 44),  // 44–47
    ]

    /// Every syscall allowed without conditions, by purpose.
    public static let allowed: [String] = files + filesystemMetadata + descriptors + memory + processes
        + signals + timeAndScheduling + ipc + networking + security

    /// Reading, writing and naming files.
    static let files = [
        "open", "openat", "openat2", "creat", "close", "close_range", "read", "readv", "pread64", "preadv",
        "preadv2", "write", "writev", "pwrite64", "pwritev", "pwritev2", "lseek", "_llseek", "sendfile",
        "sendfile64", "splice", "tee", "vmsplice", "copy_file_range", "readahead", "cachestat", "fadvise64", "fadvise64_64",
        "fallocate", "truncate", "truncate64", "ftruncate", "ftruncate64", "fsync", "fdatasync", "sync",
        "syncfs", "sync_file_range", "flock", "link", "linkat", "unlink", "unlinkat", "symlink", "symlinkat",
        "readlink", "readlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "mknod",
        "mknodat", "getdents", "getdents64", "chdir", "fchdir", "getcwd", "chroot", "umask",
    ]

    /// Owners, modes, times, attributes and statistics of files and filesystems.
    static let filesystemMetadata = [
        "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "fstatat64", "newfstatat", "statx", "statfs",
        "statfs64", "fstatfs", "fstatfs64", "access", "faccessat", "faccessat2", "chmod", "fchmod", "fchmodat",
        "fchmodat2", "chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32", "utime",
        "utimes", "utimensat", "utimensat_time64", "futimesat", "getxattr", "lgetxattr", "fgetxattr",
        "getxattrat", "setxattr", "lsetxattr", "fsetxattr", "setxattrat", "listxattr", "llistxattr",
        "flistxattr", "listxattrat", "removexattr", "lremovexattr", "fremovexattr", "removexattrat",
        // Read-only views of the mount table (Linux 6.8); changing it stays refused.
        "statmount", "listmount",
    ]

    /// Descriptors and waiting on them: fcntl, ioctl, pipes, polling, events, inotify.
    static let descriptors = [
        "dup", "dup2", "dup3", "fcntl", "fcntl64", "ioctl", "pipe", "pipe2", "select", "_newselect", "pselect6",
        "pselect6_time64", "poll", "ppoll", "ppoll_time64", "epoll_create", "epoll_create1", "epoll_ctl",
        "epoll_ctl_old", "epoll_wait", "epoll_wait_old", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",
        "signalfd", "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_settime64", "timerfd_gettime",
        "timerfd_gettime64", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
        "fanotify_mark", "memfd_create", "memfd_secret",
        // POSIX asynchronous I/O (io_uring is refused: it is the kernel's largest new attack surface).
        "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
    ]

    /// The process's own memory.
    static let memory = [
        "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock", "mlock2",
        "mlockall", "munlock", "munlockall", "remap_file_pages", "membarrier", "mseal", "map_shadow_stack",
        "pkey_alloc", "pkey_free", "pkey_mprotect", "process_mrelease",
    ]

    /// Creating, running and ending processes and threads; ids and limits. `clone` is allowed
    /// only without namespace flags (below); `unshare`, `setns` and `ptrace` are not allowed.
    static let processes = [
        "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "waitpid", "getpid",
        "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid", "set_tid_address",
        "set_robust_list", "get_robust_list", "rseq", "futex", "futex_time64", "futex_waitv", "futex_wait",
        "futex_wake", "futex_requeue", "set_thread_area", "get_thread_area", "prctl", "getrlimit", "ugetrlimit",
        "setrlimit", "prlimit64", "getrusage", "times", "getpriority", "setpriority", "ioprio_get", "ioprio_set",
        "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid", "getegid32", "getresuid",
        "getresuid32", "getresgid", "getresgid32", "getgroups", "getgroups32", "setuid", "setuid32", "setgid",
        "setgid32", "setreuid", "setreuid32", "setregid", "setregid32", "setresuid", "setresuid32", "setresgid",
        "setresgid32", "setfsuid", "setfsuid32", "setfsgid", "setfsgid32", "setgroups", "setgroups32", "capget",
        "capset", "uname", "sysinfo", "getcpu", "getrandom", "pidfd_open", "pidfd_send_signal",
        // The return path of a uretprobe the host set (x86-64, Linux 6.11): refusing it would crash
        // a traced process.
        "uretprobe",
    ]

    /// Signals.
    static let signals = [
        "kill", "tkill", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
        "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
        "sigaltstack", "sigprocmask", "sigreturn", "pause", "restart_syscall",
    ]

    /// Reading clocks, sleeping, timers and the process's own scheduling (setting clocks is refused).
    static let timeAndScheduling = [
        "time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
        "clock_nanosleep", "clock_nanosleep_time64", "nanosleep", "alarm", "getitimer", "setitimer",
        "timer_create", "timer_delete", "timer_settime", "timer_settime64", "timer_gettime", "timer_gettime64",
        "timer_getoverrun", "adjtimex", "clock_adjtime", "clock_adjtime64", "sched_yield", "sched_getaffinity",
        "sched_setaffinity", "sched_getattr", "sched_setattr", "sched_getparam", "sched_setparam",
        "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
        "sched_rr_get_interval", "sched_rr_get_interval_time64",
    ]

    /// System V and POSIX IPC, inside the container's own IPC namespace.
    static let ipc = [
        "ipc", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semtimedop_time64",
        "semctl", "shmget", "shmat", "shmdt", "shmctl", "mq_open", "mq_unlink", "mq_timedsend",
        "mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64", "mq_notify", "mq_getsetattr",
    ]

    /// Sockets, inside the container's own network namespace (`socket` itself is allowed by family, below;
    /// `socketcall`, the 32-bit x86 multiplexer, cannot be filtered by family).
    static let networking = [
        "socketcall", "socketpair", "bind", "listen", "accept", "accept4", "connect", "shutdown", "getsockname",
        "getpeername", "getsockopt", "setsockopt", "send", "sendto", "sendmsg", "sendmmsg", "recv", "recvfrom",
        "recvmsg", "recvmmsg", "recvmmsg_time64",
    ]

    /// Ways for a process to restrict itself further.
    static let security = [
        "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", "lsm_get_self_attr",
        "lsm_set_self_attr", "lsm_list_modules",
    ]
}

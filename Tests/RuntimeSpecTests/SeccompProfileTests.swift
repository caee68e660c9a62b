import Foundation
import OCI
import Runtime
import XCTest

/// The default seccomp profile, read as libseccomp would apply it: a call is allowed when a rule
/// for its name with all its argument conditions holding says so; otherwise the rule's errno, or
/// the default action's.
final class SeccompProfileTests: XCTestCase {
    let profile = SeccompProfile.default(for: .x86_64)

    /// What the filter answers for `name` with `args`: nil for allowed, else the errno.
    func errno(_ name: String, _ args: [UInt64] = []) -> UInt32? {
        for rule in profile.syscalls ?? [] where rule.names.contains(name) {
            let holds = (rule.args ?? []).allSatisfy { condition in
                let argument = Int(condition.index) < args.count ? args[Int(condition.index)] : 0
                switch condition.op {
                case .maskedEqual: return argument & condition.value == (condition.valueTwo ?? 0)
                case .equalTo: return argument == condition.value
                case .notEqual: return argument != condition.value
                case .lessThan: return argument < condition.value
                case .lessOrEqual: return argument <= condition.value
                case .greaterThan: return argument > condition.value
                case .greaterOrEqual: return argument >= condition.value
                }
            }
            guard holds else { continue }
            switch rule.action {
            case .allow: return nil
            case .errno: return rule.errnoRet ?? 1
            default: XCTFail("unexpected action \(rule.action) for \(name)")
            }
        }
        return profile.defaultErrnoRet ?? 1
    }

    func testDefaultActionIsEPERM() {
        XCTAssertEqual(profile.defaultAction, .errno)
        XCTAssertEqual(profile.defaultErrnoRet, 1)
        XCTAssertNil(profile.flags)
    }

    func testArchitecturesFollowTheHost() {
        XCTAssertEqual(SeccompProfile.default(for: .x86_64).architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        XCTAssertEqual(SeccompProfile.default(for: .aarch64).architectures, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        XCTAssertNil(SeccompProfile.default(for: nil).architectures, "another machine: the native ABI only")
        #if arch(x86_64)
        XCTAssertEqual(SeccompProfile.Architecture.host, .x86_64)
        #elseif arch(arm64)
        XCTAssertEqual(SeccompProfile.Architecture.host, .aarch64)
        #endif
        let aarch64 = SeccompProfile.default(for: .aarch64)
        XCTAssertTrue(aarch64.syscalls?.first?.names.contains("set_tls") == true)
        XCTAssertFalse(aarch64.syscalls?.first?.names.contains("arch_prctl") == true)
        XCTAssertNil(errno("arch_prctl"))
    }

    func testOrdinarySyscallsAreAllowed() {
        for name in ["read", "write", "openat", "close", "futex", "epoll_wait", "epoll_pwait", "epoll_ctl", "mmap", "munmap",
                     "brk", "execve", "exit_group", "wait4", "clock_gettime", "nanosleep", "getrandom", "accept4", "bind",
                     "listen", "connect", "sendmsg", "recvfrom", "rt_sigaction", "fstat", "newfstatat", "statx", "getdents64",
                     "pipe2", "dup3", "fcntl", "ioctl", "prctl", "setuid", "setgid", "capget", "chroot", "mknod", "uname",
                     "rseq", "set_robust_list", "sched_yield", "io_submit", "memfd_create", "seccomp", "tgkill"] {
            XCTAssertNil(errno(name), "\(name) is refused")
        }
    }

    func testDangerousSyscallsAreRefusedWithEPERM() {
        for name in ["keyctl", "add_key", "request_key", "bpf", "perf_event_open", "unshare", "setns", "mount", "umount",
                     "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount", "fspick", "mount_setattr",
                     "kexec_load", "kexec_file_load", "open_by_handle_at", "name_to_handle_at", "init_module", "finit_module",
                     "delete_module", "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd", "ptrace",
                     "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "reboot", "swapon", "swapoff",
                     "settimeofday", "clock_settime", "syslog", "acct", "quotactl", "sethostname", "setdomainname",
                     "iopl", "ioperm", "lookup_dcookie", "fanotify_init", "vhangup", "mbind", "set_mempolicy", "uselib",
                     "_sysctl", "nfsservctl", "create_module"] {
            XCTAssertEqual(errno(name), 1, name)
            XCTAssertFalse(profile.syscalls?.contains { $0.names.contains(name) } == true, "\(name) has a rule")
        }
    }

    func testCloneIsAllowedOnlyWithoutNamespaceFlags() throws {
        let rules = (profile.syscalls ?? []).filter { $0.names.contains("clone") }
        XCTAssertEqual(rules, [RuntimeSpec.SeccompSyscall(names: ["clone"], action: .allow, args: [
            RuntimeSpec.SeccompArg(index: 0, value: 0x7E02_0000, valueTwo: 0, op: .maskedEqual),
        ])])
        XCTAssertEqual(SeccompProfile.newNamespaceFlags, 2_114_060_288, "Docker's value")
        // What glibc's pthread_create and fork pass.
        let thread: UInt64 = 0x3d0f00   // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
        XCTAssertNil(errno("clone", [thread]))
        XCTAssertNil(errno("clone", [0x0120_0011]))   // fork: CLONE_CHILD_SETTID|CHILD_CLEARTID|SIGCHLD
        for flag: UInt64 in [0x0002_0000, 0x0200_0000, 0x0400_0000, 0x0800_0000, 0x1000_0000, 0x2000_0000, 0x4000_0000] {
            XCTAssertEqual(errno("clone", [thread | flag]), 1, String(flag, radix: 16))
        }
    }

    func testClone3FailsWithENOSYSSoLibcFallsBackToClone() {
        XCTAssertEqual(errno("clone3"), 38)
        XCTAssertEqual((profile.syscalls ?? []).filter { $0.names.contains("clone3") },
                       [RuntimeSpec.SeccompSyscall(names: ["clone3"], action: .errno, errnoRet: 38)])
    }

    func testPersonalityOnlyWithHarmlessValues() {
        for value: UInt64 in [0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff] { XCTAssertNil(errno("personality", [value])) }
        for value: UInt64 in [0x0040000, 0x0400000, 0x0008_0000, 0x1] {   // ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, …
            XCTAssertEqual(errno("personality", [value]), 1, String(value, radix: 16))
        }
    }

    func testSocketFamiliesButVsockAndAlg() {
        for family: UInt64 in [1, 2, 10, 16, 17, 0, 37, 39, 41, 44, 45, 47] {   // unix, inet, inet6, netlink, packet…
            XCTAssertNil(errno("socket", [family, 1, 0]), "family \(family)")
        }
        for family: UInt64 in [38, 40, 48, 0x1_0000_0028, 0xffff_ffff_0000_0026] {
            XCTAssertEqual(errno("socket", [family, 1, 0]), 1, "family \(String(family, radix: 16))")
        }
    }

    func testEachNameOnceAndNoneBothAllowedAndConditional() {
        let allowed = SeccompProfile.allowed
        XCTAssertEqual(Set(allowed).count, allowed.count, "a name is listed twice")
        let conditional = Set((profile.syscalls ?? []).dropFirst().flatMap(\.names))
        XCTAssertEqual(conditional, ["clone", "clone3", "personality", "socket"])
        XCTAssertTrue(conditional.isDisjoint(with: allowed), "an unconditional allow would override the conditions")
        XCTAssertGreaterThan(allowed.count, 300)
    }

    func testJSONHasTheRuntimeSpecFieldNames() throws {
        let data = try JSONEncoder().encode(profile)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["defaultAction", "defaultErrnoRet", "architectures", "syscalls"])
        XCTAssertEqual(object["defaultAction"] as? String, "SCMP_ACT_ERRNO")
        XCTAssertEqual(object["defaultErrnoRet"] as? Int, 1)
        let rules = try XCTUnwrap(object["syscalls"] as? [[String: Any]])
        XCTAssertEqual(Set(rules[0].keys), ["names", "action"])
        let clone = try XCTUnwrap(rules.first { ($0["names"] as? [String]) == ["clone"] })
        XCTAssertEqual(clone["action"] as? String, "SCMP_ACT_ALLOW")
        let argument = try XCTUnwrap((clone["args"] as? [[String: Any]])?.first)
        XCTAssertEqual(argument["index"] as? Int, 0)
        XCTAssertEqual(argument["value"] as? Int, 2_114_060_288)
        XCTAssertEqual(argument["valueTwo"] as? Int, 0)
        XCTAssertEqual(argument["op"] as? String, "SCMP_CMP_MASKED_EQ")
        let clone3 = try XCTUnwrap(rules.first { ($0["names"] as? [String]) == ["clone3"] })
        XCTAssertEqual(clone3["errnoRet"] as? Int, 38)
        XCTAssertEqual(clone3["action"] as? String, "SCMP_ACT_ERRNO")
        XCTAssertEqual(try JSONDecoder().decode(RuntimeSpec.Seccomp.self, from: data), profile)
    }

    func testRuntimeSpecDecodesAnOCISeccompSection() throws {
        let json = #"""
            {"ociVersion":"1.0.2","linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
            "flags":["SECCOMP_FILTER_FLAG_LOG"],"syscalls":[{"names":["getcwd","chmod"],"action":"SCMP_ACT_ERRNO",
            "errnoRet":5},{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}}}
            """#
        let seccomp = try XCTUnwrap(try RuntimeSpec.decode(Data(json.utf8)).linux?.seccomp)
        XCTAssertEqual(seccomp, RuntimeSpec.Seccomp(
            defaultAction: .errno, architectures: ["SCMP_ARCH_X86_64"], flags: ["SECCOMP_FILTER_FLAG_LOG"], syscalls: [
                .init(names: ["getcwd", "chmod"], action: .errno, errnoRet: 5),
                .init(names: ["personality"], action: .allow, args: [.init(index: 0, value: 8, op: .equalTo)]),
            ]))
    }
}

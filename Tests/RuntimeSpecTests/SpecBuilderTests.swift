import BerthModel
import Foundation
import OCI
import Runtime
import XCTest

final class SpecBuilderTests: XCTestCase {
    static let passwd = """
        root:x:0:0:root:/root:/bin/sh
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
        # a comment
        www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin

        app:x:1000:1000::/home/app:/bin/sh
        nobody:x:65534:65534:nobody:/nonexistent:/bin/false
        broken:x:notanumber:1::/:/bin/sh
        """
    static let group = """
        root:x:0:
        daemon:x:1:app
        www-data:x:33:app,nobody
        video:x:44: app , www-data
        app:x:1000:app
        staff:x:50:
        nogroup:x:65534:
        nobody:x:65533:nobody
        """

    func config(entrypoint: [String]? = nil, cmd: [String]? = ["/bin/sh"], env: [String]? = nil, user: String? = nil,
                workingDir: String? = nil) -> ImageConfig.Config {
        var config = ImageConfig.Config()
        config.Entrypoint = entrypoint
        config.Cmd = cmd
        config.Env = env
        config.User = user
        config.WorkingDir = workingDir
        return config
    }

    func inputs(_ config: ImageConfig.Config? = nil, env: [String: String] = [:], port: Int = 8080, cpu: Double = 1,
                memory: Int64 = 512 << 20) -> SpecInputs {
        SpecInputs(runtimeID: "c0ffee-r1", hostname: "hello", imageConfig: config ?? self.config(), passwd: Self.passwd,
                   group: Self.group, env: env, port: port, cpu: cpu, memoryBytes: memory,
                   networkNamespacePath: "/var/run/netns/berth-c0ffee-r1", hostsPath: "/var/lib/berth/c/hosts",
                   resolvConfPath: "/var/lib/berth/c/resolv.conf", hostnamePath: "/var/lib/berth/c/hostname")
    }

    // MARK: - Defaults, as containerd 1.6 has them

    func testDefaultSecuritySettingsAreContainerds() throws {
        let spec = try RuntimeSpecBuilder.build(inputs())
        // containerd oci/spec.go defaultUnixCaps (= Docker's default set) without CAP_NET_RAW.
        let capabilities = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                            "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                            "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
        let process = try XCTUnwrap(spec.process)
        XCTAssertEqual(process.capabilities, RuntimeSpec.Capabilities(bounding: capabilities, effective: capabilities,
                                                                       permitted: capabilities))
        XCTAssertEqual(process.noNewPrivileges, true)
        XCTAssertEqual(process.rlimits, [RuntimeSpec.Rlimit(type: "RLIMIT_NOFILE", hard: 1024, soft: 1024)])
        XCTAssertNil(process.terminal)
        XCTAssertNil(process.apparmorProfile)
        // Not containerd's (it leaves the shim's -998 to be inherited): above berthd's -500.
        XCTAssertEqual(process.oomScoreAdj, 500)

        let linux = try XCTUnwrap(spec.linux)
        // containerd oci/spec.go populateDefaultUnixSpec (1.6.26+, 1.7.11+, 2.x: with powercap),
        // then Berth's: /proc/interrupts (as Docker 28) and the host's NVIDIA driver state.
        XCTAssertEqual(linux.maskedPaths, ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                                           "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                                           "/sys/devices/virtual/powercap", "/proc/scsi", "/proc/interrupts",
                                           "/proc/driver/nvidia"])
        XCTAssertEqual(linux.readonlyPaths, ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"])
        XCTAssertEqual(linux.namespaces, [
            .init(type: "pid"), .init(type: "ipc"), .init(type: "uts"), .init(type: "mount"),
            .init(type: "network", path: "/var/run/netns/berth-c0ffee-r1"), .init(type: "cgroup"),
        ])
        XCTAssertEqual(linux.cgroupsPath, "/berth/c0ffee-r1")
        XCTAssertNil(linux.devices)
        XCTAssertNil(linux.uidMappings)
        XCTAssertNil(linux.sysctl)
        // Deny all, then containerd oci/spec_opts.go WithDefaultUnixDevices.
        XCTAssertEqual(linux.resources?.devices, [
            .init(allow: false, access: "rwm"),
            .init(allow: true, type: "c", major: 1, minor: 3, access: "rwm"),
            .init(allow: true, type: "c", major: 1, minor: 8, access: "rwm"),
            .init(allow: true, type: "c", major: 1, minor: 7, access: "rwm"),
            .init(allow: true, type: "c", major: 5, minor: 0, access: "rwm"),
            .init(allow: true, type: "c", major: 1, minor: 5, access: "rwm"),
            .init(allow: true, type: "c", major: 1, minor: 9, access: "rwm"),
            .init(allow: true, type: "c", major: 5, minor: 1, access: "rwm"),
            .init(allow: true, type: "c", major: 136, access: "rwm"),
            .init(allow: true, type: "c", major: 5, minor: 2, access: "rwm"),
        ])

        XCTAssertEqual(spec.ociVersion, "1.0.2-dev")
        XCTAssertEqual(spec.root, RuntimeSpec.Root(path: "rootfs"))
        XCTAssertEqual(spec.hostname, "hello")
        XCTAssertNil(spec.hooks)
        XCTAssertNil(spec.annotations)
    }

    func testDefaultMountsAreContainerdsWithCgroupAndBerthFiles() throws {
        let spec = try RuntimeSpecBuilder.build(inputs())
        // containerd oci/mounts.go defaultMounts without /run (CRI's WithoutRunMount), CRI's
        // read-only cgroup mount, then the container's files.
        XCTAssertEqual(spec.mounts, [
            .init(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            .init(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            .init(destination: "/dev/pts", type: "devpts", source: "devpts",
                  options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            .init(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            .init(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
            .init(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
            .init(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"]),
            .init(destination: "/etc/hosts", type: "bind", source: "/var/lib/berth/c/hosts", options: ["rbind", "rprivate", "ro"]),
            .init(destination: "/etc/resolv.conf", type: "bind", source: "/var/lib/berth/c/resolv.conf", options: ["rbind", "rprivate", "ro"]),
            .init(destination: "/etc/hostname", type: "bind", source: "/var/lib/berth/c/hostname", options: ["rbind", "rprivate", "ro"]),
        ])
    }

    func testWithoutFilesOrNetnsPath() throws {
        let spec = try RuntimeSpecBuilder.build(SpecInputs(runtimeID: "x", hostname: "x", imageConfig: config(), port: 80,
                                                           cpu: 1, memoryBytes: 1 << 30))
        XCTAssertEqual(spec.mounts?.count, 7)
        XCTAssertEqual(spec.linux?.namespaces?.first { $0.type == "network" }, RuntimeSpec.Namespace(type: "network"))
        XCTAssertEqual(spec.linux?.cgroupsPath, "/berth/x")
        XCTAssertEqual(spec.process?.user, RuntimeSpec.User(uid: 0, gid: 0, additionalGids: [0]))
    }

    func testConfigurableLimits() throws {
        var inputs = inputs()
        inputs.openFilesLimit = 1_048_576
        inputs.pidsLimit = 100
        inputs.cgroupsPath = "/custom/path"
        inputs.rootfsPath = "/run/rootfs"
        inputs.annotations = ["berth.revision": "1"]
        let spec = try RuntimeSpecBuilder.build(inputs)
        XCTAssertEqual(spec.process?.rlimits, [RuntimeSpec.Rlimit(type: "RLIMIT_NOFILE", hard: 1_048_576, soft: 1_048_576)])
        XCTAssertEqual(spec.linux?.resources?.pids, RuntimeSpec.Pids(limit: 100))
        XCTAssertEqual(spec.linux?.cgroupsPath, "/custom/path")
        XCTAssertEqual(spec.root?.path, "/run/rootfs")
        XCTAssertEqual(spec.annotations, ["berth.revision": "1"])
        XCTAssertEqual(try RuntimeSpecBuilder.build(self.inputs()).linux?.resources?.pids, RuntimeSpec.Pids(limit: 4096))
    }

    // MARK: - Image config

    func testArgsAreEntrypointThenCmd() throws {
        func args(_ entrypoint: [String]?, _ cmd: [String]?) throws -> [String]? {
            try RuntimeSpecBuilder.build(inputs(config(entrypoint: entrypoint, cmd: cmd))).process?.args
        }
        XCTAssertEqual(try args(["/bin/httpd", "-f"], ["-p", "80"]), ["/bin/httpd", "-f", "-p", "80"])
        XCTAssertEqual(try args(nil, ["sh", "-c", "echo hi"]), ["sh", "-c", "echo hi"])
        XCTAssertEqual(try args(["/entry"], nil), ["/entry"])
        XCTAssertEqual(try args(["/entry"], []), ["/entry"])
        XCTAssertThrowsError(try args(nil, nil)) { XCTAssertEqual($0 as? SpecError, .noCommand) }
        XCTAssertThrowsError(try args([], [])) { XCTAssertEqual($0 as? SpecError, .noCommand) }
    }

    func testEnvOrderOverridesAndPort() throws {
        let image = config(env: ["PATH=/opt/bin:/bin", "A=1", "PORT=3000", "B=2", "EMPTY="])
        let env = try RuntimeSpecBuilder.build(inputs(image, env: ["B": "3", "C": "4", "PORT": "9999", "A": "x=y"], port: 8080)).process?.env
        XCTAssertEqual(env, ["PATH=/opt/bin:/bin", "A=x=y", "PORT=8080", "B=3", "EMPTY=", "C=4"])
    }

    func testPortIsAlwaysTheContainersPort() throws {
        let env = try RuntimeSpecBuilder.build(inputs(config(env: ["PATH=/bin"]), env: ["PORT": "1"], port: 80)).process?.env
        XCTAssertEqual(env, ["PATH=/bin", "PORT=80"])
        XCTAssertThrowsError(try RuntimeSpecBuilder.build(inputs(port: 0)))
        XCTAssertThrowsError(try RuntimeSpecBuilder.build(inputs(port: 65536)))
    }

    func testPathDefault() throws {
        let defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        XCTAssertEqual(try RuntimeSpecBuilder.build(inputs(config(env: nil))).process?.env, [defaultPath, "PORT=8080"])
        XCTAssertEqual(try RuntimeSpecBuilder.build(inputs(config(env: ["A=1"]), env: ["Z": "2"])).process?.env,
                       [defaultPath, "A=1", "Z=2", "PORT=8080"])
        // The request may set PATH itself.
        XCTAssertEqual(try RuntimeSpecBuilder.build(inputs(config(env: ["A=1"]), env: ["PATH": "/mine"])).process?.env,
                       ["A=1", "PATH=/mine", "PORT=8080"])
    }

    func testInvalidEnvIsRejected() {
        for env in [["": "x"], ["A=B": "x"], ["A\0": "x"], ["A": "x\0y"]] {
            XCTAssertThrowsError(try RuntimeSpecBuilder.build(inputs(env: env)), "\(env)") { error in
                guard case .invalidEnvironment = error as? SpecError else { return XCTFail("\(error)") }
            }
        }
    }

    func testWorkingDirectory() throws {
        XCTAssertEqual(try RuntimeSpecBuilder.build(inputs(config(workingDir: nil))).process?.cwd, "/")
        XCTAssertEqual(try RuntimeSpecBuilder.build(inputs(config(workingDir: ""))).process?.cwd, "/")
        XCTAssertEqual(try RuntimeSpecBuilder.build(inputs(config(workingDir: "/srv/app"))).process?.cwd, "/srv/app")
        XCTAssertEqual(try RuntimeSpecBuilder.build(inputs(config(workingDir: "app"))).process?.cwd, "/app")
    }

    func testUserFromImageConfig() throws {
        func user(_ user: String?) throws -> RuntimeSpec.User? {
            try RuntimeSpecBuilder.build(inputs(config(user: user))).process?.user
        }
        XCTAssertEqual(try user(nil), RuntimeSpec.User(uid: 0, gid: 0, additionalGids: [0]))
        XCTAssertEqual(try user(""), RuntimeSpec.User(uid: 0, gid: 0, additionalGids: [0]))
        XCTAssertEqual(try user("nobody"), RuntimeSpec.User(uid: 65534, gid: 65534, additionalGids: [65534, 33]))
        XCTAssertEqual(try user("app"), RuntimeSpec.User(uid: 1000, gid: 1000, additionalGids: [1000, 1, 33, 44]))
        XCTAssertEqual(try user("1000:50"), RuntimeSpec.User(uid: 1000, gid: 50, additionalGids: [50, 1, 33, 44]))
        XCTAssertThrowsError(try user("ghost")) { error in
            XCTAssertEqual(error as? SpecError, .unknownUser(name: "ghost", reason: "no such user in the image's /etc/passwd"))
            XCTAssertEqual("\(error)", "image user \"ghost\" not found: no such user in the image's /etc/passwd")
        }
    }

    func testUserResolverForms() throws {
        let p = Self.passwd, g = Self.group
        func ids(_ user: String, passwd: String? = p, group: String? = g) throws -> [UInt32] {
            let r = try UserResolver.resolve(user, passwd: passwd, group: group)
            return [r.uid, r.gid] + r.additionalGids
        }
        // Numeric: passwd's primary group when the uid is listed, else 0.
        XCTAssertEqual(try ids("0"), [0, 0, 0])
        XCTAssertEqual(try ids("33"), [33, 33, 33, 44])
        XCTAssertEqual(try ids("4242"), [4242, 0, 0])
        XCTAssertEqual(try ids("4242", passwd: nil, group: nil), [4242, 0, 0])
        XCTAssertEqual(try ids("+7"), [7, 0, 0])
        // uid:gid taken as given.
        XCTAssertEqual(try ids("4242:4343"), [4242, 4343, 4343])
        XCTAssertEqual(try ids("33:0"), [33, 0, 0, 44])
        XCTAssertEqual(try ids("1:2", passwd: nil, group: nil), [1, 2, 2])
        // Names.
        XCTAssertEqual(try ids("www-data"), [33, 33, 33, 44])
        XCTAssertEqual(try ids("daemon"), [1, 1, 1])
        XCTAssertEqual(try ids("root"), [0, 0, 0])
        XCTAssertEqual(try ids("app:staff"), [1000, 50, 50, 1, 33, 44])
        XCTAssertEqual(try ids("app:0"), [1000, 0, 0, 1, 33, 44])
        XCTAssertEqual(try ids("4242:staff"), [4242, 50, 50])
        // A group named like the user is not supplementary (nobody's own group 65533 here).
        XCTAssertEqual(try ids("nobody:nogroup"), [65534, 65534, 65534, 33])

        let cases: [(String, String?, String?, SpecError)] = [
            ("ghost", p, g, .unknownUser(name: "ghost", reason: "no such user in the image's /etc/passwd")),
            ("app", nil, g, .unknownUser(name: "app", reason: "the image has no /etc/passwd")),
            ("ghost:staff", p, g, .unknownUser(name: "ghost", reason: "no such user in the image's /etc/passwd")),
            ("app:ghosts", p, g, .unknownGroup(name: "ghosts", reason: "no such group in the image's /etc/group")),
            ("0:staff", p, nil, .unknownGroup(name: "staff", reason: "the image has no /etc/group")),
            ("broken", p, g, .unknownUser(name: "broken", reason: "no such user in the image's /etc/passwd")),
            ("a:b:c", p, g, .invalidUser("\"a:b:c\" is not uid, uid:gid, name or name:group")),
            (":0", p, g, .invalidUser("\":0\" is not uid, uid:gid, name or name:group")),
            ("0:", p, g, .invalidUser("\"0:\" is not uid, uid:gid, name or name:group")),
            ("-1", p, g, .invalidUser("\"-1\": -1 is not an id between 0 and 4294967295")),
            ("4294967296", p, g, .invalidUser("\"4294967296\": 4294967296 is not an id between 0 and 4294967295")),
        ]
        for (user, passwd, group, expected) in cases {
            XCTAssertThrowsError(try UserResolver.resolve(user, passwd: passwd, group: group), user) { error in
                XCTAssertEqual(error as? SpecError, expected, user)
            }
        }
    }

    // MARK: - Limits

    func testCPULimits() throws {
        func cpu(_ cores: Double) throws -> RuntimeSpec.CPU? {
            try RuntimeSpecBuilder.build(inputs(cpu: cores)).linux?.resources?.cpu
        }
        XCTAssertEqual(try cpu(0.25), RuntimeSpec.CPU(shares: 256, quota: 25000, period: 100_000))
        XCTAssertEqual(try cpu(1.5), RuntimeSpec.CPU(shares: 1536, quota: 150_000, period: 100_000))
        XCTAssertEqual(try cpu(1), RuntimeSpec.CPU(shares: 1024, quota: 100_000, period: 100_000))
        XCTAssertEqual(try cpu(0.5), RuntimeSpec.CPU(shares: 512, quota: 50000, period: 100_000))
        XCTAssertEqual(try cpu(0.29), RuntimeSpec.CPU(shares: 297, quota: 29000, period: 100_000))
        XCTAssertEqual(try cpu(0.001), RuntimeSpec.CPU(shares: 2, quota: 1000, period: 100_000))
        XCTAssertEqual(try cpu(8), RuntimeSpec.CPU(shares: 8192, quota: 800_000, period: 100_000))
        XCTAssertEqual(try cpu(512), RuntimeSpec.CPU(shares: 262_144, quota: 51_200_000, period: 100_000))
        for bad in [0, -1, .nan, .infinity, 1e300] as [Double] {
            XCTAssertThrowsError(try cpu(bad), "\(bad)") { error in
                guard case .invalidLimit = error as? SpecError else { return XCTFail("\(error)") }
            }
        }
    }

    func testMemoryLimitAndNoSwap() throws {
        let memory = try Quantity(parsing: "512Mi").bytes
        let spec = try RuntimeSpecBuilder.build(inputs(memory: memory))
        XCTAssertEqual(spec.linux?.resources?.memory, RuntimeSpec.Memory(limit: 536_870_912, swap: 536_870_912))
        var withoutSwap = inputs(memory: memory)
        withoutSwap.limitSwap = false
        XCTAssertEqual(try RuntimeSpecBuilder.build(withoutSwap).linux?.resources?.memory, RuntimeSpec.Memory(limit: 536_870_912))
        XCTAssertThrowsError(try RuntimeSpecBuilder.build(inputs(memory: 0)))
    }

    func testInputsFromRevision() throws {
        let revision = RevisionSpec(image: "docker.io/library/busybox:1", cpu: 0.5, memory: try Quantity(parsing: "64Mi"),
                                    ephemeralStorage: try Quantity(parsing: "1Gi"), port: 8080, env: ["FOO": "bar"])
        var config = ImageConfig.Config()
        config.Cmd = ["sh"]
        let image = ImageConfig(platform: Platform(os: "linux", architecture: "amd64"), config: config, diffIDs: [])
        let spec = try RuntimeSpecBuilder.build(SpecInputs(runtimeID: "id-r2", hostname: "web", revision: revision, image: image))
        XCTAssertEqual(spec.process?.env, ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FOO=bar", "PORT=8080"])
        XCTAssertEqual(spec.linux?.resources?.memory?.limit, 67_108_864)
        XCTAssertEqual(spec.linux?.resources?.cpu?.quota, 50000)
        XCTAssertEqual(spec.linux?.cgroupsPath, "/berth/id-r2")
        XCTAssertEqual(SpecInputs.cgroupsPath(runtimeID: "id-r2"), "/berth/id-r2")
    }

    // MARK: - Edits

    func testEditsPlugIn() throws {
        var inputs = inputs(port: 8080)
        inputs.edits = [
            .devices([.init(path: "/dev/nvidia0", type: "c", major: 195, minor: 0, fileMode: 0o666, uid: 0, gid: 0)]),
            .deviceRules([.init(allow: true, type: "c", major: 195, minor: 0, access: "rwm")]),
            .mounts([.init(destination: "/usr/lib/libcuda.so.1", type: "bind", source: "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
                           options: ["rbind", "rprivate", "ro"])]),
            .environment(["NVIDIA_VISIBLE_DEVICES": "0", "PORT": "1"]),
            .annotations(["gpu": "0"]),
            .hook(.init(path: "/usr/bin/nvidia-hook", args: ["nvidia-hook", "prestart"], timeout: 5), at: .createRuntime),
            SpecEdit("custom") { spec in spec.linux?.sysctl = ["net.core.somaxconn": "1024"] },
        ]
        let spec = try RuntimeSpecBuilder.build(inputs)
        XCTAssertEqual(spec.linux?.devices?.map(\.path), ["/dev/nvidia0"])
        XCTAssertEqual(spec.linux?.resources?.devices?.count, 11)
        XCTAssertEqual(spec.linux?.resources?.devices?.last, .init(allow: true, type: "c", major: 195, minor: 0, access: "rwm"))
        XCTAssertEqual(spec.mounts?.last?.destination, "/usr/lib/libcuda.so.1")
        XCTAssertEqual(spec.process?.env?.suffix(2), ["PORT=8080", "NVIDIA_VISIBLE_DEVICES=0"])
        XCTAssertEqual(spec.annotations, ["gpu": "0"])
        XCTAssertEqual(spec.hooks?.createRuntime?.map(\.path), ["/usr/bin/nvidia-hook"])
        XCTAssertEqual(spec.linux?.sysctl, ["net.core.somaxconn": "1024"])
    }

    func testFailingEditIsNamed() {
        struct Boom: Error, CustomStringConvertible { var description: String { "no driver" } }
        var inputs = inputs()
        inputs.edits = [SpecEdit("gpu") { _ in throw Boom() }]
        XCTAssertThrowsError(try RuntimeSpecBuilder.build(inputs)) { error in
            XCTAssertEqual(error as? SpecError, .edit(name: "gpu", message: "no driver"))
            XCTAssertEqual("\(error)", "gpu: no driver")
        }
    }
}

import Foundation
import OCI
import Runtime
import XCTest

final class SpecJSONTests: XCTestCase {
    /// A spec as containerd 1.6 writes one for `ctr run --memory-limit … --cpu-quota …` (field
    /// names and omissions of runtime-spec's Go types), plus a hook and id mappings.
    static let containerdSpec = #"""
    {
      "ociVersion": "1.0.2-dev",
      "process": {
        "user": {"uid": 65534, "gid": 65534, "umask": 18, "additionalGids": [65534, 33]},
        "args": ["/bin/httpd", "-f", "-p", "8080"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PORT=8080"],
        "cwd": "/www",
        "capabilities": {
          "bounding": ["CAP_CHOWN", "CAP_KILL"],
          "effective": ["CAP_CHOWN", "CAP_KILL"],
          "permitted": ["CAP_CHOWN", "CAP_KILL"]
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": true,
        "oomScoreAdj": -500,
        "apparmorProfile": "cri-containerd.apparmor.d"
      },
      "root": {"path": "rootfs"},
      "hostname": "hello",
      "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/etc/hosts", "type": "bind", "source": "/var/lib/berth/hosts", "options": ["rbind", "rprivate", "ro"]}
      ],
      "hooks": {
        "createRuntime": [{"path": "/usr/bin/nvidia-container-runtime-hook", "args": ["nvidia-container-runtime-hook", "prestart"], "env": ["A=1"], "timeout": 5}],
        "poststop": [{"path": "/bin/true"}]
      },
      "annotations": {"io.containerd.image.name": "docker.io/library/busybox:1"},
      "linux": {
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "sysctl": {"net.ipv4.ip_unprivileged_port_start": "0"},
        "resources": {
          "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"}
          ],
          "memory": {"limit": 67108864, "swap": 67108864, "swappiness": 0, "disableOOMKiller": false},
          "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1"},
          "pids": {"limit": 100},
          "blockIO": {"weight": 500}
        },
        "cgroupsPath": "/berth/hello-r1",
        "namespaces": [
          {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
          {"type": "network", "path": "/var/run/netns/berth-hello"}
        ],
        "devices": [{"path": "/dev/nvidia0", "type": "c", "major": 195, "minor": 0, "fileMode": 438, "uid": 0, "gid": 0}],
        "maskedPaths": ["/proc/acpi", "/proc/kcore"],
        "readonlyPaths": ["/proc/bus", "/proc/sys"]
      }
    }
    """#

    /// What containerd 1.6.20 itself stored for `ctr containers create --memory-limit 67108864
    /// --cpu-quota 50000 --cpu-period 100000 --env A=1 IMAGE probe1` (namespace berth-spec-probe),
    /// IMAGE being busybox with User "nobody", Entrypoint /bin/sleep, Cmd 3600, WorkingDir /tmp and
    /// Env PATH=/bin GREETING=from-image PORT=1 (`ctr containers info --spec probe1`).
    static let ctrCreateSpec = [
        #"{"ociVersion":"1.0.2-dev","process":{"user":{"uid":65534,"gid":65534,"additionalGids":[65534]}"#,
        #","args":["/bin/sleep","3600"],"env":["PATH=/bin","GREETING=from-image","PORT=1","A=1"],"cwd":"/tmp""#,
        #","capabilities":{"bounding":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD""#,
        #","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT""#,
        #","CAP_KILL","CAP_AUDIT_WRITE"],"effective":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER""#,
        #","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE""#,
        #","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"],"permitted":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID""#,
        #","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP""#,
        #","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]},"rlimits":[{"type":"RLIMIT_NOFILE""#,
        #","hard":1024,"soft":1024}],"noNewPrivileges":true},"root":{"path":"rootfs"},"mounts":[{"destination":"/proc""#,
        #","type":"proc","source":"proc","options":["nosuid","noexec","nodev"]},{"destination":"/dev","type":"tmpfs""#,
        #","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},{"destination":"/dev/pts""#,
        #","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620""#,
        #","gid=5"]},{"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid","noexec","nodev""#,
        #","mode=1777","size=65536k"]},{"destination":"/dev/mqueue","type":"mqueue","source":"mqueue""#,
        #","options":["nosuid","noexec","nodev"]},{"destination":"/sys","type":"sysfs","source":"sysfs""#,
        #","options":["nosuid","noexec","nodev","ro"]},{"destination":"/run","type":"tmpfs","source":"tmpfs""#,
        #","options":["nosuid","strictatime","mode=755","size=65536k"]}],"linux":{"resources":{"devices":[{"allow":false"#,
        #","access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},{"allow":true,"type":"c""#,
        #","major":1,"minor":8,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":7"#,
        #","access":"rwm"},{"allow":true,"type":"c","major":5,"minor":0,"access":"rwm"},{"allow":true,"type":"c""#,
        #","major":1,"minor":5,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":9"#,
        #","access":"rwm"},{"allow":true,"type":"c","major":5,"minor":1,"access":"rwm"},{"allow":true,"type":"c""#,
        #","major":136,"access":"rwm"},{"allow":true,"type":"c","major":5,"minor":2,"access":"rwm"}]"#,
        #","memory":{"limit":67108864},"cpu":{"quota":50000,"period":100000}},"cgroupsPath":"/berth-spec-probe/probe1""#,
        #","namespaces":[{"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},{"type":"network"}]"#,
        #","maskedPaths":["/proc/acpi","/proc/asound","/proc/kcore","/proc/keys","/proc/latency_stats""#,
        #","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/sys/firmware","/proc/scsi"]"#,
        #","readonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}}"#,
    ].joined()

    func testBuilderAgreesWithContainerdItself() throws {
        let containerd = try RuntimeSpec.decode(Data(Self.ctrCreateSpec.utf8))
        XCTAssertEqual(try RuntimeSpec.decode(try containerd.encoded()), containerd)

        var config = ImageConfig.Config()
        config.User = "nobody"
        config.Entrypoint = ["/bin/sleep"]
        config.Cmd = ["3600"]
        config.WorkingDir = "/tmp"
        config.Env = ["PATH=/bin", "GREETING=from-image", "PORT=1"]
        let ours = try RuntimeSpecBuilder.build(SpecInputs(
            runtimeID: "probe1", hostname: "probe", imageConfig: config,
            passwd: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
            group: "root:x:0:\nnobody:x:65534:\n", env: ["A": "1"], port: 8080, cpu: 0.5, memoryBytes: 67_108_864))

        XCTAssertEqual(ours.ociVersion, containerd.ociVersion)
        XCTAssertEqual(ours.root, containerd.root)
        XCTAssertEqual(ours.process?.user, containerd.process?.user)
        XCTAssertEqual(ours.process?.args, containerd.process?.args)
        XCTAssertEqual(ours.process?.cwd, containerd.process?.cwd)
        // containerd's set without CAP_NET_RAW, which Berth drops.
        var withoutRaw = containerd.process?.capabilities
        withoutRaw?.bounding?.removeAll { $0 == "CAP_NET_RAW" }
        withoutRaw?.effective?.removeAll { $0 == "CAP_NET_RAW" }
        withoutRaw?.permitted?.removeAll { $0 == "CAP_NET_RAW" }
        XCTAssertEqual(ours.process?.capabilities, withoutRaw)
        XCTAssertEqual(ours.process?.rlimits, containerd.process?.rlimits)
        XCTAssertEqual(ours.process?.noNewPrivileges, containerd.process?.noNewPrivileges)
        // containerd leaves the score to be inherited from the shim (-998); Berth sets it above berthd's.
        XCTAssertNil(containerd.process?.oomScoreAdj)
        XCTAssertEqual(ours.process?.oomScoreAdj, 500)
        // PORT is Berth's.
        XCTAssertEqual(containerd.process?.env, ["PATH=/bin", "GREETING=from-image", "PORT=1", "A=1"])
        XCTAssertEqual(ours.process?.env, ["PATH=/bin", "GREETING=from-image", "PORT=8080", "A=1"])
        // Mounts: containerd's without /run, then the cgroup mount.
        XCTAssertEqual(containerd.mounts?.filter { $0.destination != "/run" }, Array(ours.mounts?.prefix(6) ?? []))
        XCTAssertEqual(ours.mounts?.count, 7)
        XCTAssertEqual(ours.mounts?.last?.destination, "/sys/fs/cgroup")
        XCTAssertEqual(ours.linux?.resources?.devices, containerd.linux?.resources?.devices)
        // 1.6.20 predates masking powercap (containerd 1.6.26, 1.7.11, 2.0).
        var masked = try XCTUnwrap(containerd.linux?.maskedPaths)
        masked.insert("/sys/devices/virtual/powercap", at: try XCTUnwrap(masked.firstIndex(of: "/sys/firmware")) + 1)
        // Berth masks more and adds a cgroup namespace (see SpecDefaults).
        XCTAssertEqual(ours.linux?.maskedPaths, masked + ["/proc/interrupts", "/proc/driver/nvidia"])
        XCTAssertEqual(ours.linux?.readonlyPaths, containerd.linux?.readonlyPaths)
        XCTAssertEqual(ours.linux?.namespaces, (containerd.linux?.namespaces ?? []) + [RuntimeSpec.Namespace(type: "cgroup")])
        XCTAssertEqual(ours.linux?.resources?.memory?.limit, containerd.linux?.resources?.memory?.limit)
        XCTAssertEqual(ours.linux?.resources?.cpu?.quota, containerd.linux?.resources?.cpu?.quota)
        XCTAssertEqual(ours.linux?.resources?.cpu?.period, containerd.linux?.resources?.cpu?.period)
        XCTAssertEqual(containerd.linux?.cgroupsPath, "/berth-spec-probe/probe1")
        XCTAssertEqual(ours.linux?.cgroupsPath, "/berth/probe1")
    }

    func testDecodesContainerdSpecAndReencodesStably() throws {
        let spec = try RuntimeSpec.decode(Data(Self.containerdSpec.utf8))
        XCTAssertEqual(spec.process?.user, RuntimeSpec.User(uid: 65534, gid: 65534, umask: 18, additionalGids: [65534, 33]))
        XCTAssertEqual(spec.process?.oomScoreAdj, -500)
        XCTAssertEqual(spec.process?.apparmorProfile, "cri-containerd.apparmor.d")
        XCTAssertEqual(spec.hooks?.createRuntime?.first?.timeout, 5)
        XCTAssertEqual(spec.hooks?.poststop, [RuntimeSpec.Hook(path: "/bin/true")])
        XCTAssertEqual(spec.linux?.uidMappings, [RuntimeSpec.IDMapping(containerID: 0, hostID: 100_000, size: 65536)])
        XCTAssertEqual(spec.linux?.resources?.devices?[2], RuntimeSpec.DeviceCgroup(allow: true, type: "c", major: 136, access: "rwm"))
        XCTAssertEqual(spec.linux?.resources?.memory, RuntimeSpec.Memory(limit: 67_108_864, swap: 67_108_864, swappiness: 0,
                                                                          disableOOMKiller: false))
        XCTAssertEqual(spec.linux?.resources?.cpu, RuntimeSpec.CPU(shares: 512, quota: 50000, period: 100_000, cpus: "0-1"))
        XCTAssertEqual(spec.linux?.resources?.blockIO?.weight, 500)
        XCTAssertEqual(spec.linux?.devices?.first?.fileMode, 0o666)

        let encoded = try spec.encoded()
        XCTAssertEqual(try RuntimeSpec.decode(encoded), spec)
        XCTAssertEqual(try RuntimeSpec.decode(encoded).encoded(), encoded, "re-encoding is byte for byte stable")
        // Same JSON as the fixture, as values (nothing added, nothing renamed, nothing lost).
        XCTAssertEqual(String(decoding: try normalized(encoded), as: UTF8.self),
                       String(decoding: try normalized(Data(Self.containerdSpec.utf8)), as: UTF8.self))
    }

    func testBuiltSpecOmitsNilFieldsAndUsesSpecNames() throws {
        var config = ImageConfig.Config()
        config.Cmd = ["sh"]
        let spec = try RuntimeSpecBuilder.build(SpecInputs(runtimeID: "a-r1", hostname: "a", imageConfig: config, port: 80,
                                                           cpu: 0.5, memoryBytes: 64 << 20))
        // Without the seccomp profile, whose syscall names (umask, …) are not field names.
        var unfiltered = spec
        unfiltered.linux?.seccomp = nil
        let text = String(decoding: try unfiltered.encoded(), as: UTF8.self)
        for absent in ["terminal", "apparmorProfile", "umask", "hooks", "annotations", "inheritable",
                       "ambient", "readonly", "uidMappings", "sysctl", "reservation", "kernel", "swappiness", "realtimeRuntime",
                       "cpus", "blockIO", "null"] {
            XCTAssertFalse(text.contains(absent == "null" ? "null" : "\"\(absent)\""), "\(absent) in \(text)")
        }
        XCTAssertTrue(text.contains(#"{"access":"rwm","allow":false}"#), text)
        XCTAssertTrue(text.contains(#"{"access":"rwm","allow":true,"major":136,"type":"c"}"#), text)
        XCTAssertTrue(text.contains(#""root":{"path":"rootfs"}"#), text)
        XCTAssertTrue(text.contains(#"{"type":"network"}"#), text)
        XCTAssertTrue(text.contains(#""user":{"additionalGids":[0],"gid":0,"uid":0}"#), text)
        XCTAssertTrue(text.contains(#""cgroupsPath":"/berth/a-r1""#), text)

        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: try spec.encoded()) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["ociVersion", "process", "root", "hostname", "mounts", "linux"])
        let process = try XCTUnwrap(object["process"] as? [String: Any])
        XCTAssertEqual(Set(process.keys), ["user", "args", "env", "cwd", "capabilities", "rlimits", "noNewPrivileges", "oomScoreAdj"])
        XCTAssertEqual(process["oomScoreAdj"] as? Int, 500)
        let linux = try XCTUnwrap(object["linux"] as? [String: Any])
        XCTAssertEqual(Set(linux.keys), ["resources", "cgroupsPath", "namespaces", "maskedPaths", "readonlyPaths", "seccomp"])
        let resources = try XCTUnwrap(linux["resources"] as? [String: Any])
        XCTAssertEqual(Set(resources.keys), ["devices", "memory", "cpu", "pids"])
        XCTAssertEqual(resources["memory"] as? [String: Int], ["limit": 67_108_864, "swap": 67_108_864])
        XCTAssertEqual(resources["cpu"] as? [String: Int], ["shares": 512, "quota": 50000, "period": 100_000])
        XCTAssertEqual(resources["pids"] as? [String: Int], ["limit": 4096])
    }

    /// The JSON re-serialised with sorted keys and no whitespace.
    func normalized(_ data: Data) throws -> Data {
        try JSONSerialization.data(withJSONObject: try JSONSerialization.jsonObject(with: data),
                                   options: [.sortedKeys, .withoutEscapingSlashes])
    }
}

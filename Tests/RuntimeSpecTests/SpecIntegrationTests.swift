import BerthModel
import ContainerdClient
import Foundation
import ImagePull
import OCI
import RegistryClient
import Runtime
import TestSupport
import XCTest

/// Runs a busybox image through containerd with a spec from `RuntimeSpecBuilder` and checks that
/// the kernel got what the spec says: cgroup limits, user, files, env, hostname.
final class SpecIntegrationTests: XCTestCase {
    func testSpecRunsUnderContainerdWithLimitsUserAndFiles() async throws {
        let env = try TestEnvironment.current()
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let namespace = "berth-spec-\(suffix)"
        let runtimeID = "spec-\(suffix)-r1"
        let snapshotKey = "berth-spec-\(runtimeID)"
        let netns = "berth-spec-\(suffix)"
        let files = try env.makeTemporaryDirectory("spec-files")

        let pushed = try await TestRegistry.push(
            TestImage(layers: [.busybox()], entrypoint: ["/bin/sleep"], cmd: ["3600"],
                      env: ["PATH=/bin", "GREETING=from-image", "PORT=1"], workingDir: "/tmp", user: "nobody"),
            to: env.registry, repository: "berth/spec", tag: "1")
        let reference = try ImageReference(parsing: pushed.reference)
        let registry = RegistryClient(configuration: RegistryConfiguration(insecureHosts: [env.registry]))

        try "127.0.0.1\tlocalhost\n10.88.0.7\tspec-test\n".write(toFile: files + "/hosts", atomically: true, encoding: .utf8)
        try "spec-test\n".write(toFile: files + "/hostname", atomically: true, encoding: .utf8)
        try "nameserver 10.88.0.1\n".write(toFile: files + "/resolv.conf", atomically: true, encoding: .utf8)
        try runCommand("ip", ["netns", "add", netns])

        var failure: (any Error)?
        do {
            try await withContainerdClient(socketPath: env.containerdSocket, namespace: namespace) { client in
                try await client.ensureNamespace()
                do {
                    try await self.run(client: client, registry: registry, reference: reference, runtimeID: runtimeID,
                                       snapshotKey: snapshotKey, netnsPath: "/var/run/netns/\(netns)", files: files)
                } catch {
                    failure = error
                }
                await Self.cleanUp(client: client, runtimeID: runtimeID, snapshotKey: snapshotKey, image: reference.description)
            }
        } catch {
            failure = failure ?? error
        }
        try? await registry.shutdown()
        do { try runCommand("ip", ["netns", "delete", netns]) } catch { failure = failure ?? error }
        try? FileManager.default.removeItem(atPath: files)
        _ = try? runCommand("/usr/bin/ctr", ["--address", env.containerdSocket, "namespaces", "rm", namespace])
        if let failure { throw failure }
    }

    private func run(client: ContainerdClient, registry: RegistryClient, reference: ImageReference, runtimeID: String,
                     snapshotKey: String, netnsPath: String, files: String) async throws {
        let pulled = try await ImagePuller(containerd: client, registry: registry).pull(reference)
        // Until the container record references it, the snapshot is kept only by a lease, as
        // containerd's own client does it: a collection in between would take it.
        let lease = try await client.createLease()
        let mounts = try await client.leased(lease).prepareSnapshot(snapshotKey, parent: pulled.chainID.description)
        let layers = try Self.lowerDirectories(mounts)
        func imageFile(_ path: String) -> String? {
            layers.lazy.compactMap { try? String(contentsOfFile: $0 + path, encoding: .utf8) }.first
        }

        let swap = CgroupVersion.swapLimitSupported()
        var inputs = SpecInputs(runtimeID: runtimeID, hostname: "spec-test", imageConfig: pulled.config.config,
                                passwd: imageFile("/etc/passwd"), group: imageFile("/etc/group"),
                                env: ["GREETING": "from-revision", "PORT": "9"], port: 8080, cpu: 0.5,
                                memoryBytes: try Quantity(parsing: "64Mi").bytes, limitSwap: swap, pidsLimit: 100,
                                networkNamespacePath: netnsPath, hostsPath: files + "/hosts",
                                resolvConfPath: files + "/resolv.conf", hostnamePath: files + "/hostname")
        inputs.edits = [.annotations(["berth.test": "spec"])]
        let spec = try RuntimeSpecBuilder.build(inputs)
        XCTAssertEqual(spec.process?.user.uid, 65534)

        try await client.leased(lease).createContainer(ContainerRecord(id: runtimeID, image: pulled.name, spec: try spec.encoded(),
                                                                       snapshotter: client.snapshotter, snapshotKey: snapshotKey))
        try await client.deleteLease(lease)
        let stored = try await client.container(id: runtimeID)
        XCTAssertEqual(try stored.map { try RuntimeSpec.decode($0.spec) }, spec)

        let pid = try await client.createTask(containerID: runtimeID, rootfs: mounts, io: TaskIO())
        try await client.startTask(containerID: runtimeID)
        let state = try await client.task(containerID: runtimeID)
        XCTAssertEqual(state?.status, .running)

        // cgroup limits, read from the files and through CgroupReader.
        let cgroupsPath = SpecInputs.cgroupsPath(runtimeID: runtimeID)
        let version = CgroupVersion.detect()
        func read(_ path: String) throws -> String {
            try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        switch version {
        case .v1:
            let memory = "/sys/fs/cgroup/memory\(cgroupsPath)"
            XCTAssertEqual(try read(memory + "/memory.limit_in_bytes"), "67108864")
            if FileManager.default.fileExists(atPath: memory + "/memory.memsw.limit_in_bytes") {
                XCTAssertEqual(try read(memory + "/memory.memsw.limit_in_bytes"), "67108864")
            }
            XCTAssertEqual(try read("/sys/fs/cgroup/cpu\(cgroupsPath)/cpu.cfs_quota_us"), "50000")
            XCTAssertEqual(try read("/sys/fs/cgroup/cpu\(cgroupsPath)/cpu.cfs_period_us"), "100000")
            XCTAssertEqual(try read("/sys/fs/cgroup/cpu\(cgroupsPath)/cpu.shares"), "512")
            XCTAssertEqual(try read("/sys/fs/cgroup/pids\(cgroupsPath)/pids.max"), "100")
        case .v2:
            let directory = "/sys/fs/cgroup\(cgroupsPath)"
            XCTAssertEqual(try read(directory + "/memory.max"), "67108864")
            if FileManager.default.fileExists(atPath: directory + "/memory.swap.max") {
                XCTAssertEqual(try read(directory + "/memory.swap.max"), "0")
            }
            XCTAssertEqual(try read(directory + "/cpu.max"), "50000 100000")
            XCTAssertEqual(try read(directory + "/pids.max"), "100")
        }
        let stats = try CgroupReader(version: version).stats(cgroupsPath: cgroupsPath)
        XCTAssertEqual(stats.memoryLimitBytes, 67_108_864)
        XCTAssertEqual(stats.cpuQuota, 50000)
        XCTAssertEqual(stats.cpuPeriod, 100_000)
        XCTAssertEqual(stats.pidsLimit, 100)
        XCTAssertGreaterThanOrEqual(stats.pidsCurrent, 1)
        XCTAssertGreaterThan(stats.memoryUsageBytes, 0)
        XCTAssertEqual(stats.oomKillCount, 0)
        XCTAssertFalse(stats.frozen)

        // The process: user, args, env, cwd, files, hostname, namespaces.
        let status = try read("/proc/\(pid)/status")
        let uid = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }
        XCTAssertEqual(uid?.split(whereSeparator: \.isWhitespace).dropFirst().map(String.init), ["65534", "65534", "65534", "65534"])
        let gid = status.split(separator: "\n").first { $0.hasPrefix("Gid:") }
        XCTAssertEqual(gid?.split(whereSeparator: \.isWhitespace).dropFirst().first, "65534")
        // Docker's and containerd's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
        // SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP, without NET_RAW (bit 13).
        let capBnd = status.split(separator: "\n").first { $0.hasPrefix("CapBnd:") }
        XCTAssertEqual(capBnd?.split(whereSeparator: \.isWhitespace).last, "00000000a80405fb")
        let noNewPrivs = status.split(separator: "\n").first { $0.hasPrefix("NoNewPrivs:") }
        XCTAssertEqual(noNewPrivs?.split(whereSeparator: \.isWhitespace).last, "1")
        // runc applied process.oomScoreAdj: the task is above berthd (-500) and the shim (-998)
        // in the kernel's OOM order, instead of inheriting the shim's score.
        XCTAssertEqual(try read("/proc/\(pid)/oom_score_adj"), "500")

        let cmdline = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))
        XCTAssertEqual(cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }, ["/bin/sleep", "3600"])
        let environ = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))
        let variables = environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        // runc adds HOME from the image's /etc/passwd when the spec has none.
        XCTAssertEqual(variables, ["PATH=/bin", "GREETING=from-revision", "PORT=8080", "HOME=/nonexistent"])
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd"), "/tmp")

        XCTAssertEqual(try read("/proc/\(pid)/root/etc/hosts"), "127.0.0.1\tlocalhost\n10.88.0.7\tspec-test")
        XCTAssertEqual(try read("/proc/\(pid)/root/etc/hostname"), "spec-test")
        XCTAssertEqual(try read("/proc/\(pid)/root/etc/resolv.conf"), "nameserver 10.88.0.1")
        XCTAssertEqual(try runCommand("nsenter", ["--target", String(pid), "--uts", "hostname"]).trimmingCharacters(in: .newlines),
                       "spec-test")
        XCTAssertEqual(try Self.namespaceInode("/proc/\(pid)/ns/net"), try Self.namespaceInode(netnsPath))
        XCTAssertNotEqual(try Self.namespaceInode("/proc/\(pid)/ns/pid"), try Self.namespaceInode("/proc/self/ns/pid"))
        // The container's own mounts: the files and the read-only paths read-only, the masked paths
        // (those this kernel has: runc skips the others) covered.
        let containerMounts = try read("/proc/\(pid)/mounts").split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        func mountOptions(_ destination: String) -> [String]? {
            containerMounts.last { $0.count > 3 && $0[1] == destination }?[3].split(separator: ",").map(String.init)
        }
        // (On v1, runc puts a tmpfs at /sys/fs/cgroup and read-only mounts of each hierarchy in it.)
        let cgroupMount = version == .v1 ? "/sys/fs/cgroup/memory" : "/sys/fs/cgroup"
        for path in ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/proc/sys", "/proc/bus", cgroupMount, "/sys"] {
            XCTAssertEqual(mountOptions(path)?.contains("ro"), true, "\(path): \(mountOptions(path) ?? [])")
        }
        for path in SpecDefaults.maskedPaths where FileManager.default.fileExists(atPath: path) {
            XCTAssertNotNil(mountOptions(path), "\(path) is not masked")
        }
    }

    /// The snapshot's read-only layers, topmost first.
    static func lowerDirectories(_ mounts: [Mount]) throws -> [String] {
        let mount = try XCTUnwrap(mounts.first)
        switch mount.type {
        case "bind", "rbind": return [mount.source]
        default:
            var directories: [String] = []
            if let upper = mount.options.first(where: { $0.hasPrefix("upperdir=") }) {
                directories.append(String(upper.dropFirst("upperdir=".count)))
            }
            if let lower = mount.options.first(where: { $0.hasPrefix("lowerdir=") }) {
                directories += lower.dropFirst("lowerdir=".count).split(separator: ":").map(String.init)
            }
            return directories
        }
    }

    static func namespaceInode(_ path: String) throws -> UInt64 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw TestSupportError("stat \(path): errno \(errno)") }
        return UInt64(info.st_ino)
    }

    /// Everything the test made in containerd, whatever state it got to.
    static func cleanUp(client: ContainerdClient, runtimeID: String, snapshotKey: String, image: String) async {
        if let task = try? await client.task(containerID: runtimeID) {
            if task.status != .stopped {
                try? await client.killTask(containerID: runtimeID, signal: SIGKILL, all: true)
                for _ in 0..<100 {
                    if (try? await client.task(containerID: runtimeID))?.status == .stopped { break }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            _ = try? await client.deleteTask(containerID: runtimeID)
        }
        try? await client.deleteContainer(id: runtimeID)
        try? await client.removeSnapshot(snapshotKey)
        try? await client.deleteImage(named: image, sync: true)
    }
}

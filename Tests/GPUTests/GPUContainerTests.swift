import ContainerdClient
import Foundation
import GPU
import ImagePull
import OCI
import RegistryClient
import Runtime
import TestSupport
import XCTest

/// A busybox container with two of the fake tree's GPUs, run by containerd and runc: it sees its
/// two device nodes with the right numbers and the control nodes, no other GPU, the driver's
/// library, and its device cgroup allows exactly those.
final class GPUContainerTests: XCTestCase {
    static let script = """
        ls -l /dev/nvidia*; echo ---; \
        ls -lL /usr/lib/x86_64-linux-gnu/libcuda.so.1; cat /usr/lib/x86_64-linux-gnu/libcuda.so.1; echo ---; \
        cat /proc/self/cgroup; \
        echo uid_map $(cat /proc/self/uid_map); (: <> /dev/nvidia2) 2>&1 && echo opened /dev/nvidia2; echo END; exec sleep 3600
        """

    func testBusyboxWithTwoGPUsSeesExactlyItsDevicesAndLibraries() async throws {
        try await checkTwoGPUs(userNamespace: nil)
    }

    /// The same in a user namespace, where runc cannot mknod: the nodes are the host's, bound
    /// (the fake tree's are 0666, as NVIDIA's driver makes them), with the same device cgroup
    /// rules. /dev/nvidia-uvm-tools, missing on this host, cannot be bound and is left out.
    func testGPUsInAUserNamespaceAreTheHostNodesBound() async throws {
        guard UserNamespaceMapping.hostSupportsUserNamespaces() else {
            let ci = ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty && $0 != "0" && $0.lowercased() != "false" } ?? false
            if ci { throw TestSupportError("CI is set but this kernel has no user namespaces") }
            throw XCTSkip("the kernel has no user namespaces")
        }
        try await checkTwoGPUs(userNamespace: try UserNamespaceMapping(base: 0x7300_0000))
    }

    private func checkTwoGPUs(userNamespace: UserNamespaceMapping?) async throws {
        let env = try TestEnvironment.current()
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        if userNamespace != nil { Self.makeTraversable(env.containerdSocket, tree.root) }
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let namespace = "berth-gpu-\(suffix)"
        let runtimeID = "gpu-\(suffix)-r1"
        let snapshotKey = "berth-gpu-\(runtimeID)"
        let logs = try env.makeTemporaryDirectory("gpu-logs")
        defer { try? FileManager.default.removeItem(atPath: logs) }

        let discovery = GPUDiscovery(hostRoot: tree.root)
        let inventory = try await discovery.discover()
        let chosen = try inventory.choose(2, model: "NVIDIA A100-SXM4-80GB", allocated: [])
        XCTAssertEqual(chosen.map(\.minor), [2, 3])
        let edits = try discovery.injection(for: chosen, inventory: inventory)

        let pushed = try await TestRegistry.push(
            TestImage(layers: [.busybox()], entrypoint: ["/bin/sh", "-c", Self.script], env: ["PATH=/bin"]),
            to: env.registry, repository: "berth/gpu", tag: "1")
        let reference = try ImageReference(parsing: pushed.reference)
        let registry = RegistryClient(configuration: RegistryConfiguration(insecureHosts: [env.registry]))

        var failure: (any Error)?
        var output = ""
        var devicesList: String?
        do {
            try await withContainerdClient(socketPath: env.containerdSocket, namespace: namespace) { client in
                try await client.ensureNamespace()
                do {
                    let pulled = try await ImagePuller(containerd: client, registry: registry).pull(reference)
                    let lease = try await client.createLease()
                    let mounts = try await client.leased(lease).prepareSnapshot(snapshotKey, parent: pulled.chainID.description)
                    if let userNamespace { try Self.give(mounts, to: userNamespace) }
                    var inputs = SpecInputs(runtimeID: runtimeID, hostname: "gpu-test", imageConfig: pulled.config.config,
                                            port: 8080, cpu: 0.5, memoryBytes: 64 << 20,
                                            limitSwap: CgroupVersion.swapLimitSupported())
                    inputs.edits = edits
                    inputs.userNamespace = userNamespace
                    let spec = try RuntimeSpecBuilder.build(inputs)
                    try await client.leased(lease).createContainer(ContainerRecord(
                        id: runtimeID, image: pulled.name, spec: try spec.encoded(), snapshotter: client.snapshotter,
                        snapshotKey: snapshotKey))
                    try await client.deleteLease(lease)
                    _ = try await client.createTask(containerID: runtimeID, rootfs: mounts,
                                                    io: TaskIO(stdout: "file://\(logs)/stdout", stderr: "file://\(logs)/stderr"))
                    try await client.startTask(containerID: runtimeID)
                    output = try await Self.waitForOutput(logs + "/stdout", stderr: logs + "/stderr")
                    if CgroupVersion.detect() == .v1 {
                        let path = "/sys/fs/cgroup/devices\(SpecInputs.cgroupsPath(runtimeID: runtimeID))/devices.list"
                        devicesList = try String(contentsOfFile: path, encoding: .utf8)
                    }
                } catch {
                    failure = error
                }
                await Self.cleanUp(client: client, runtimeID: runtimeID, snapshotKey: snapshotKey, image: reference.description)
            }
        } catch {
            failure = failure ?? error
        }
        try? await registry.shutdown()
        _ = try? runCommand("/usr/bin/ctr", ["--address", env.containerdSocket, "namespaces", "rm", namespace])
        if let failure { throw failure }

        let sections = output.components(separatedBy: "---\n")
        XCTAssertEqual(sections.count, 3, output)
        // "crw-rw-rw-    1 root     root      195,   2 Jan  1 00:00 /dev/nvidia2"
        let nodes = sections[0].split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard fields.count >= 6, fields[0].hasPrefix("c"), let path = fields.last else { return nil }
            return "\(path) \(fields[4])\(fields[5])"
        }
        let expected = ["/dev/nvidia-uvm 511,0", "/dev/nvidia-uvm-tools 511,1", "/dev/nvidia2 195,2", "/dev/nvidia3 195,3",
                        "/dev/nvidiactl 195,255"].filter { userNamespace == nil || !$0.hasPrefix("/dev/nvidia-uvm-tools") }
        XCTAssertEqual(nodes.sorted(), expected, output)
        XCTAssertEqual(sections[0].split(separator: "\n").count, expected.count, "only those under /dev/nvidia*: \(output)")
        if let userNamespace {
            // Inside the namespace: root mapped onto the range, and the node may be opened (rw).
            XCTAssertTrue(output.contains("uid_map 0 \(userNamespace.base) 65536"), output)
            // No driver serves major 195 on this host, so a node that passes the permission
            // checks (mode, nodev, device cgroup) answers ENXIO; a failed check is EACCES or EPERM.
            XCTAssertTrue(output.contains("opened /dev/nvidia2") || output.contains("No such device or address"), output)
            XCTAssertFalse(output.contains("Permission denied"), output)
            XCTAssertFalse(output.contains("Operation not permitted"), output)
        }

        let library = sections.count > 1 ? sections[1] : ""
        XCTAssertTrue(library.contains("/usr/lib/x86_64-linux-gnu/libcuda.so.1"), output)
        XCTAssertTrue(library.hasPrefix("-r"), "a regular file: \(output)")
        XCTAssertTrue(library.contains("fake libcuda \(FakeGPUTree.version)"), output)

        if let devicesList {
            // "c 195:2 rw"; runc adds "c *:* m" and "b *:* m" (mknod) and the standard devices.
            let gpuRules = devicesList.split(separator: "\n").filter { $0.contains(" 195:") || $0.contains(" 511:") }
            XCTAssertEqual(gpuRules.sorted(), ["c 195:2 rw", "c 195:255 rw", "c 195:3 rw", "c 511:0 rw", "c 511:1 rw"],
                           devicesList)
            XCTAssertFalse(devicesList.split(separator: "\n").contains("a *:* rwm"), devicesList)
        }
    }

    /// The upper and work folders of the container's snapshot owned by the range's root, as
    /// Berth owns a revision's writable layer: runc, in the namespace, makes mount points in it.
    static func give(_ mounts: [Mount], to mapping: UserNamespaceMapping) throws {
        for option in mounts.flatMap(\.options) {
            for prefix in ["upperdir=", "workdir="] where option.hasPrefix(prefix) {
                let path = String(option.dropFirst(prefix.count))
                guard chown(path, mapping.base, mapping.base) == 0 else { throw TestSupportError("chown \(path): errno \(errno)") }
            }
        }
    }

    /// runc, in the namespace, reaches the bundle under containerd's state folder and the bound
    /// nodes under the tree: their parents must be traversable by others (the test environment
    /// makes them 0700). Adds o+x, nothing more.
    static func makeTraversable(_ paths: String...) {
        for path in paths {
            var folder = path
            while folder.count > 1, folder != "/tmp" {
                var info = stat()
                if stat(folder, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { chmod(folder, (info.st_mode & 0o7777) | 0o001) }
                folder = (folder as NSString).deletingLastPathComponent
            }
        }
    }

    /// The container's output up to its END line.
    static func waitForOutput(_ path: String, stderr: String) async throws -> String {
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), text.contains("END\n") {
                return String(text[..<text.range(of: "END\n")!.lowerBound])
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let out = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: stderr, encoding: .utf8)) ?? ""
        throw TestSupportError("the container did not print END within 10 s; stdout: \(out) stderr: \(err)")
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

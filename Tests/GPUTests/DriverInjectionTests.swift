import Foundation
@testable import GPU
import OCI
import Runtime
import XCTest

/// The built-in injection (no CDI) applied by RuntimeSpecBuilder: the container gets its GPUs'
/// nodes, the control nodes and the driver's files, and no other GPU.
final class DriverInjectionTests: XCTestCase {
    static func spec(edits: [SpecEdit], userNamespace: UserNamespaceMapping? = nil) throws -> RuntimeSpec {
        var config = ImageConfig.Config()
        config.Cmd = ["sleep", "1"]
        var inputs = SpecInputs(runtimeID: "gpu-test-r1", hostname: "gpu-test", imageConfig: config,
                                env: ["NVIDIA_VISIBLE_DEVICES": "all"], port: 8080, cpu: 1, memoryBytes: 512 << 20)
        inputs.edits = edits
        inputs.userNamespace = userNamespace
        return try RuntimeSpecBuilder.build(inputs)
    }

    func testTwoGPUsGetExactlyTheirNodesRulesLibrariesAndEnv() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        let discovery = GPUDiscovery(hostRoot: tree.root)
        let inventory = try await discovery.discover()
        let chosen = try inventory.choose(2, model: "NVIDIA A100-SXM4-80GB", allocated: [])
        XCTAssertEqual(chosen.map(\.minor), [2, 3])
        let spec = try Self.spec(edits: try discovery.injection(for: chosen, inventory: inventory))
        let linux = try XCTUnwrap(spec.linux)

        XCTAssertEqual(linux.devices, [
            .init(path: "/dev/nvidia2", type: "c", major: 195, minor: 2, fileMode: 0o666, uid: 0, gid: 0),
            .init(path: "/dev/nvidia3", type: "c", major: 195, minor: 3, fileMode: 0o666, uid: 0, gid: 0),
            .init(path: "/dev/nvidiactl", type: "c", major: 195, minor: 255, fileMode: 0o666, uid: 0, gid: 0),
            .init(path: "/dev/nvidia-uvm", type: "c", major: 511, minor: 0, fileMode: 0o666, uid: 0, gid: 0),
            .init(path: "/dev/nvidia-uvm-tools", type: "c", major: 511, minor: 1, fileMode: 0o666, uid: 0, gid: 0),
        ])

        let rules = try XCTUnwrap(linux.resources?.devices)
        XCTAssertEqual(rules.first, RuntimeSpec.DeviceCgroup(allow: false, access: "rwm"))
        XCTAssertEqual(Array(rules.prefix(SpecDefaults.deviceRules.count)), SpecDefaults.deviceRules)
        let gpuRules = rules.filter { $0.major == 195 || $0.major == 511 }
        XCTAssertEqual(gpuRules, [
            .init(allow: true, type: "c", major: 195, minor: 2, access: "rw"),
            .init(allow: true, type: "c", major: 195, minor: 3, access: "rw"),
            .init(allow: true, type: "c", major: 195, minor: 255, access: "rw"),
            .init(allow: true, type: "c", major: 511, minor: 0, access: "rw"),
            .init(allow: true, type: "c", major: 511, minor: 1, access: "rw"),
        ])
        XCTAssertEqual(rules.count, SpecDefaults.deviceRules.count + 5)
        XCTAssertFalse(rules.contains { $0.allow && ($0.type == nil || $0.type == "a") }, "nothing allows every device")

        let defaults = Set(SpecDefaults.mounts.map(\.destination) + ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"])
        let gpuMounts = try XCTUnwrap(spec.mounts).filter { !defaults.contains($0.destination) }
        XCTAssertEqual(Set(gpuMounts.map(\.destination)), [
            "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14", "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
            "/usr/lib/x86_64-linux-gnu/libcuda.so", "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.14",
            "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1", "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so",
            "/opt/nvidia/lib/libnvidia-ptxjitcompiler.so.550.54.14", "/opt/nvidia/lib/libnvidia-ptxjitcompiler.so.1",
            "/usr/bin/nvidia-smi",
        ])
        for mount in gpuMounts {
            XCTAssertEqual(mount.type, "bind", mount.destination)
            XCTAssertEqual(mount.options, ["rbind", "rprivate", "ro", "nosuid", "nodev"], mount.destination)
            let source = try XCTUnwrap(mount.source)
            XCTAssertTrue(source.hasPrefix(tree.root + "/"), source)
            var info = stat()
            XCTAssertEqual(lstat(source, &info), 0, "\(source) exists")
            XCTAssertEqual(info.st_mode & S_IFMT, S_IFREG, "\(source) is the real file, not a link")
        }

        let env = try XCTUnwrap(spec.process?.env)
        XCTAssertEqual(env.filter { $0.hasPrefix("NVIDIA_") }, [
            "NVIDIA_VISIBLE_DEVICES=\(FakeGPUTree.gpus[2].uuid),\(FakeGPUTree.gpus[3].uuid)",
            "NVIDIA_DRIVER_CAPABILITIES=compute,utility",
        ])

        // No other GPU anywhere in the spec.
        let json = String(decoding: try spec.encoded(), as: UTF8.self)
        for other in [FakeGPUTree.gpus[0], FakeGPUTree.gpus[1]] {
            XCTAssertFalse(json.contains("/dev/nvidia\(other.minor)\""), "nvidia\(other.minor) in \(json)")
            XCTAssertFalse(json.contains(other.uuid))
        }
        XCTAssertFalse(linux.devices?.contains { $0.major == 195 && ($0.minor == 0 || $0.minor == 1) } ?? true)
    }

    /// In a user namespace runc cannot mknod: the nodes become binds of the host's (none of
    /// them `nodev`), a node the host lacks is left out, and the device cgroup rules stay.
    func testInAUserNamespaceTheNodesAreBoundFromTheHost() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        let discovery = GPUDiscovery(hostRoot: tree.root)
        let inventory = try await discovery.discover()
        let chosen = try inventory.choose(2, model: "NVIDIA A100-SXM4-80GB", allocated: [])
        let spec = try Self.spec(edits: try discovery.injection(for: chosen, inventory: inventory),
                                 userNamespace: try UserNamespaceMapping())
        let linux = try XCTUnwrap(spec.linux)
        XCTAssertFalse(linux.devices?.contains { $0.path.hasPrefix("/dev/nvidia") } ?? false, "\(linux.devices ?? [])")
        let nodes = try XCTUnwrap(spec.mounts).filter { $0.destination.hasPrefix("/dev/nvidia") }
        XCTAssertEqual(nodes, ["/dev/nvidia2", "/dev/nvidia3", "/dev/nvidiactl", "/dev/nvidia-uvm"].map {
            RuntimeSpec.Mount(destination: $0, type: "bind", source: tree.path($0), options: ["bind", "nosuid", "noexec"])
        })
        let gpuRules = try XCTUnwrap(linux.resources?.devices).filter { $0.major == 195 || $0.major == 511 }
        XCTAssertEqual(gpuRules.count, 5, "\(gpuRules)")
        XCTAssertTrue(gpuRules.allSatisfy { $0.allow && $0.access == "rw" })
    }

    func testWithoutGPUsNothingChanges() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        let discovery = GPUDiscovery(hostRoot: tree.root)
        let inventory = try await discovery.discover()
        XCTAssertEqual(try Self.spec(edits: try discovery.injection(for: [], inventory: inventory)), try Self.spec(edits: []))
    }

    func testDevicesFromElsewhereOrTwiceAreRefused() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        let discovery = GPUDiscovery(hostRoot: tree.root)
        let inventory = try await discovery.discover()
        let stranger = GPUDevice(id: "GPU-elsewhere", model: "NVIDIA H200", minor: 9)
        XCTAssertThrowsError(try discovery.injection(for: [stranger], inventory: inventory)) { error in
            XCTAssertEqual(error as? GPUError, .unknownDevice("GPU-elsewhere"))
        }
        let first = inventory.devices[0]
        XCTAssertThrowsError(try discovery.injection(for: [first, first], inventory: inventory)) { error in
            XCTAssertEqual(error as? GPUError, .invalidRequest("GPU \(first.id) is asked for twice"))
        }
    }
}

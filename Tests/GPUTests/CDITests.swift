import Foundation
@testable import GPU
import OCI
import Runtime
import XCTest

/// CDI specs as the source of truth: discovery from JSON and YAML specs, their edits given exactly,
/// priority between folders, and refusal of broken specs.
final class CDITests: XCTestCase {
    /// GPUs 0 and 1 (H200) in a JSON spec, 2 and 3 (A100) in a YAML one, each spec with its own
    /// top-level edits, and the aggregate "all" device and a MIG device that are not whole GPUs.
    static func writeSpecs(_ tree: FakeGPUTree) throws {
        try tree.write("/etc/cdi/nvidia-h200.json", #"""
            {
              "cdiVersion": "0.6.0",
              "kind": "nvidia.com/gpu",
              "containerEdits": {
                "env": ["NVIDIA_VISIBLE_DEVICES=void", "CDI_SPEC=h200"],
                "deviceNodes": [
                  {"path": "/dev/nvidiactl"},
                  {"path": "/dev/nvidia-uvm", "type": "c", "major": 511, "minor": 0, "permissions": "rw"}
                ],
                "mounts": [
                  {"hostPath": "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14",
                   "containerPath": "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14",
                   "options": ["ro", "nosuid", "nodev", "bind"]}
                ],
                "hooks": [
                  {"hookName": "createContainer", "path": "/usr/bin/nvidia-ctk",
                   "args": ["nvidia-ctk", "hook", "update-ldcache", "--folder", "/usr/lib/x86_64-linux-gnu"]}
                ]
              },
              "devices": [
                {"name": "0", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0", "type": "c", "major": 195, "minor": 0}]}},
                {"name": "1", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia1"}], "env": ["GPU_SLOT=1"]}},
                {"name": "0:0", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0"}, {"path": "/dev/nvidia-caps/nvidia-cap21"}]}},
                {"name": "all", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0"}, {"path": "/dev/nvidia1"}]}}
              ]
            }
            """#)
        try tree.write("/etc/cdi/nvidia-a100.yaml", """
            cdiVersion: 0.5.0
            kind: nvidia.com/gpu
            containerEdits:
              env:
              - CDI_SPEC=a100
              deviceNodes:
              - path: /dev/nvidiactl
              additionalGids: [44]
            devices:
            - name: "2"
              containerEdits:
                deviceNodes:
                - path: /dev/nvidia2
                hooks:
                - hookName: startContainer
                  path: /usr/bin/gpu-check
                  args: [gpu-check, "2"]
                  timeout: 5
            - name: 3
              containerEdits:
                deviceNodes:
                - path: /dev/nvidia3
                  permissions: rw
                mounts:
                - hostPath: /opt/a100/profile
                  containerPath: /etc/a100-profile
                  options: [ro, bind]
                  type: bind
            - name: all
              containerEdits:
                deviceNodes:
                - path: /dev/nvidia2
                - path: /dev/nvidia3
            """)
        // Another vendor's spec in the same folder is not Berth's business.
        try tree.write("/etc/cdi/fpga.yaml", """
            cdiVersion: 0.6.0
            kind: example.com/fpga
            devices:
            - name: f0
              containerEdits:
                deviceNodes:
                - path: /dev/fpga0
            """)
    }

    func testCDISpecsAreTheSourceOfTruth() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        try Self.writeSpecs(tree)
        let inventory = try await GPUDiscovery(hostRoot: tree.root).discover()

        XCTAssertEqual(inventory.source, .cdi(["/etc/cdi/nvidia-a100.yaml", "/etc/cdi/nvidia-h200.json"]))
        XCTAssertNil(inventory.driver)
        XCTAssertEqual(inventory.devices, FakeGPUTree.gpus.map {
            GPUDevice(id: $0.uuid, model: $0.model, uuid: $0.uuid, memoryBytes: Int64($0.mebibytes) << 20, minor: $0.minor,
                      cdiName: "nvidia.com/gpu=\($0.minor)")
        })
        XCTAssertEqual(inventory.models(allocated: []).map(\.memory), ["141Gi", "80Gi"])
    }

    func testTheEditsAreExactlyTheSpecsAndTheDevices() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        try Self.writeSpecs(tree)
        let discovery = GPUDiscovery(hostRoot: tree.root)
        let inventory = try await discovery.discover()
        let devices = [inventory.devices[1], inventory.devices[3]]
        var spec = RuntimeSpec(process: RuntimeSpec.Process(env: ["PATH=/bin", "NVIDIA_VISIBLE_DEVICES=all"]),
                               mounts: [RuntimeSpec.Mount(destination: "/proc", type: "proc", source: "proc")],
                               linux: RuntimeSpec.Linux(resources: RuntimeSpec.Resources(devices: [.init(allow: false, access: "rwm")])))
        for edit in try discovery.injection(for: devices, inventory: inventory) {
            try edit.apply(&spec)
        }

        // The H200 spec's edits, GPU 1's, the A100 spec's, GPU 3's; nvidiactl once.
        XCTAssertEqual(spec.process?.env, ["PATH=/bin", "NVIDIA_VISIBLE_DEVICES=void", "CDI_SPEC=a100", "GPU_SLOT=1"])
        XCTAssertEqual(spec.linux?.devices, [
            .init(path: "/dev/nvidia-uvm", type: "c", major: 511, minor: 0),
            .init(path: "/dev/nvidia1", type: "c", major: 195, minor: 1, fileMode: 0o666),
            .init(path: "/dev/nvidiactl", type: "c", major: 195, minor: 255, fileMode: 0o666),
            .init(path: "/dev/nvidia3", type: "c", major: 195, minor: 3, fileMode: 0o666),
        ])
        XCTAssertEqual(spec.linux?.resources?.devices, [
            .init(allow: false, access: "rwm"),
            .init(allow: true, type: "c", major: 195, minor: 255, access: "rwm"),
            .init(allow: true, type: "c", major: 511, minor: 0, access: "rw"),
            .init(allow: true, type: "c", major: 195, minor: 1, access: "rwm"),
            .init(allow: true, type: "c", major: 195, minor: 255, access: "rwm"),
            .init(allow: true, type: "c", major: 195, minor: 3, access: "rw"),
        ])
        XCTAssertEqual(spec.mounts, [
            .init(destination: "/proc", type: "proc", source: "proc"),
            .init(destination: "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14",
                  source: tree.path("/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14"), options: ["ro", "nosuid", "nodev", "bind"]),
            .init(destination: "/etc/a100-profile", type: "bind", source: tree.path("/opt/a100/profile"), options: ["ro", "bind"]),
        ])
        XCTAssertEqual(spec.hooks, RuntimeSpec.Hooks(
            createContainer: [.init(path: tree.path("/usr/bin/nvidia-ctk"),
                                    args: ["nvidia-ctk", "hook", "update-ldcache", "--folder", "/usr/lib/x86_64-linux-gnu"])]))
        XCTAssertEqual(spec.process?.user.additionalGids, [44])
        let json = String(decoding: try spec.encoded(), as: UTF8.self)
        XCTAssertFalse(json.contains("/dev/nvidia0"))
        XCTAssertFalse(json.contains("/dev/nvidia2"))
        XCTAssertFalse(json.contains("gpu-check"), "GPU 2's hook")
    }

    /// Under a user namespace (uid mappings in the spec) CDI's device nodes are the host's
    /// nodes bound, each once, before the spec's own mounts; the device cgroup rules stay.
    func testInAUserNamespaceCDINodesAreBoundFromTheHost() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        try Self.writeSpecs(tree)
        let discovery = GPUDiscovery(hostRoot: tree.root)
        let inventory = try await discovery.discover()
        let mapping = try UserNamespaceMapping()
        var spec = RuntimeSpec(linux: RuntimeSpec.Linux(uidMappings: mapping.idMappings, gidMappings: mapping.idMappings))
        for edit in try discovery.injection(for: [inventory.devices[1], inventory.devices[3]], inventory: inventory) {
            try edit.apply(&spec)
        }
        XCTAssertEqual(spec.linux?.devices ?? [], [])
        let nodes = ["/dev/nvidia-uvm", "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia3"].map {
            RuntimeSpec.Mount(destination: $0, type: "bind", source: tree.path($0), options: ["bind", "nosuid", "noexec"])
        }
        XCTAssertEqual(spec.mounts?.map(\.destination), nodes.map(\.destination)
            + ["/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14", "/etc/a100-profile"])
        XCTAssertEqual(Array(spec.mounts?.prefix(4) ?? []), nodes)
        XCTAssertEqual(spec.linux?.resources?.devices?.count, 5)
    }

    func testOneSpecsEditsComeOnceForSeveralDevices() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        try Self.writeSpecs(tree)
        let discovery = GPUDiscovery(hostRoot: tree.root)
        let inventory = try await discovery.discover()
        var spec = RuntimeSpec()
        for edit in try discovery.injection(for: Array(inventory.devices[2...3]), inventory: inventory) {
            try edit.apply(&spec)
        }
        XCTAssertEqual(spec.linux?.devices?.map(\.path), ["/dev/nvidiactl", "/dev/nvidia2", "/dev/nvidia3"])
        XCTAssertEqual(spec.hooks?.startContainer, [.init(path: tree.path("/usr/bin/gpu-check"), args: ["gpu-check", "2"], timeout: 5)])
        XCTAssertEqual(spec.process?.env, ["CDI_SPEC=a100"])
    }

    func testVarRunCDIOverridesEtcCDI() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        try Self.writeSpecs(tree)
        try tree.write("/var/run/cdi/nvidia.yaml", """
            cdiVersion: 0.6.0
            kind: nvidia.com/gpu
            devices:
            - name: "1"
              containerEdits:
                deviceNodes:
                - path: /dev/nvidia1
                env: [GENERATED=at-boot]
            """)
        let discovery = GPUDiscovery(hostRoot: tree.root)
        let inventory = try await discovery.discover()
        XCTAssertEqual(inventory.devices.count, 4)
        var spec = RuntimeSpec()
        for edit in try discovery.injection(for: [inventory.devices[1]], inventory: inventory) {
            try edit.apply(&spec)
        }
        XCTAssertEqual(spec.process?.env, ["GENERATED=at-boot"])
        XCTAssertEqual(spec.linux?.devices?.map(\.path), ["/dev/nvidia1"])
    }

    func testWithoutDriverFilesDevicesAreNamedByCDI() async throws {
        let tree = try FakeGPUTree.empty()
        defer { tree.remove() }
        try tree.write("/etc/cdi/nvidia.yaml", """
            cdiVersion: 0.6.0
            kind: nvidia.com/gpu
            devices:
            - name: "0"
              containerEdits:
                deviceNodes: [{path: /dev/nvidia0, type: c, major: 195, minor: 0}]
            - name: GPU-0f0f0f0f-0000-4000-8000-000000000000
              containerEdits:
                deviceNodes: [{path: /dev/nvidia0, type: c, major: 195, minor: 0}]
            - name: gpu-x
              containerEdits:
                env: [X=1]
            """)
        let inventory = try await GPUDiscovery(hostRoot: tree.root).discover()
        // "0" and its UUID name are one GPU.
        let uuid = "GPU-0f0f0f0f-0000-4000-8000-000000000000"
        XCTAssertEqual(inventory.devices, [
            GPUDevice(id: uuid, model: "unknown", uuid: uuid, minor: 0, cdiName: "nvidia.com/gpu=0"),
            GPUDevice(id: "nvidia.com/gpu=gpu-x", model: "unknown", cdiName: "nvidia.com/gpu=gpu-x"),
        ])
        XCTAssertEqual(inventory.models(allocated: []).map(\.memory), ["unknown"])
    }

    func testANodeNeitherOnTheHostNorNumberedFailsTheInjection() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        try tree.write("/etc/cdi/nvidia.json", #"""
            {"cdiVersion": "0.6.0", "kind": "nvidia.com/gpu",
             "devices": [{"name": "0", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0"}, {"path": "/dev/nvidia-gone"}]}}]}
            """#)
        let discovery = GPUDiscovery(hostRoot: tree.root)
        let inventory = try await discovery.discover()
        XCTAssertThrowsError(try discovery.injection(for: inventory.devices, inventory: inventory)) { error in
            XCTAssertEqual("\(error)", "CDI device node /dev/nvidia-gone: /dev/nvidia-gone is not a device on this host "
                + "and the spec does not give its type and numbers")
        }
    }

    // MARK: - Broken specs fail discovery, naming the file

    func assertDiscoveryFails(_ file: String, _ content: String, saying expected: String,
                              line: UInt = #line) async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        try Self.writeSpecs(tree)
        try tree.write(file, content)
        do {
            let inventory = try await GPUDiscovery(hostRoot: tree.root).discover()
            XCTFail("discovered \(inventory.devices.count) devices", line: line)
        } catch let error as GPUError {
            guard case .invalidCDISpec = error else { return XCTFail("\(error)", line: line) }
            // The parsers' own wording after our prefix varies between Foundation and Yams versions.
            XCTAssertTrue("\(error)".hasPrefix(expected), "\(error)", line: line)
        }
    }

    func testMalformedFilesAreRefused() async throws {
        try await assertDiscoveryFails("/etc/cdi/broken.json", #"{"cdiVersion": "0.6.0", "kind": "#,
                                       saying: "invalid CDI spec /etc/cdi/broken.json: not valid JSON or YAML: ")
        try await assertDiscoveryFails("/etc/cdi/broken.yaml", "cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ndevices: [\n",
                                       saying: "invalid CDI spec /etc/cdi/broken.yaml: not valid JSON or YAML: ")
    }

    func testMissingFieldsAreRefused() async throws {
        try await assertDiscoveryFails("/var/run/cdi/nvidia.yaml", "cdiVersion: 0.6.0\nkind: nvidia.com/gpu\n",
                                       saying: "invalid CDI spec /var/run/cdi/nvidia.yaml: devices is missing")
        try await assertDiscoveryFails("/etc/cdi/x.yaml", """
            cdiVersion: 0.6.0
            kind: nvidia.com/gpu
            devices:
            - name: "9"
              containerEdits:
                deviceNodes:
                - {hostPath: /dev/nvidia9}
            """, saying: "invalid CDI spec /etc/cdi/x.yaml: devices[0].containerEdits.deviceNodes[0].path is missing")
    }

    func testInvalidSpecsAreRefused() async throws {
        try await assertDiscoveryFails("/etc/cdi/x.yaml", """
            cdiVersion: 0.6.0
            kind: nvidia.com/gpu
            devices:
            - name: "bad name"
              containerEdits:
                deviceNodes: [{path: dev/nvidia9}]
                hooks: [{hookName: whenever, path: /bin/true}]
            - name: empty
            """, saying: #"invalid CDI spec /etc/cdi/x.yaml: device "bad name": a name must be letters, digits, '_', '.', ':' or '-'; "#
                + #"device "bad name": device node path "dev/nvidia9" is not absolute; "#
                + #"device "bad name": hook /bin/true: unknown hookName "whenever"; device "empty" has no containerEdits"#)
    }

    func testADeviceDefinedTwiceInOneFolderIsRefused() async throws {
        try await assertDiscoveryFails("/etc/cdi/nvidia-more.yaml", """
            cdiVersion: 0.6.0
            kind: nvidia.com/gpu
            devices:
            - name: "3"
              containerEdits:
                deviceNodes: [{path: /dev/nvidia3}]
            """, saying: #"invalid CDI spec /etc/cdi/nvidia-more.yaml: device "3" is also defined in /etc/cdi/nvidia-a100.yaml"#)
    }
}

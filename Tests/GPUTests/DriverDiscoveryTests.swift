import Foundation
@testable import GPU
import XCTest

/// Discovery from the driver's files (no CDI spec), on the fake tree.
final class DriverDiscoveryTests: XCTestCase {
    func testFindsFourGPUsWithModelsMinorsUUIDsAndMemory() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        let inventory = try await GPUDiscovery(hostRoot: tree.root).discover()

        XCTAssertEqual(inventory.source, .driver)
        XCTAssertEqual(inventory.devices, FakeGPUTree.gpus.map {
            GPUDevice(id: $0.uuid, model: $0.model, uuid: $0.uuid, memoryBytes: Int64($0.mebibytes) << 20, minor: $0.minor)
        })
        let models = inventory.models(allocated: [])
        XCTAssertEqual(models.map(\.model), ["NVIDIA H200", "NVIDIA A100-SXM4-80GB"])
        XCTAssertEqual(models.map(\.memory), ["141Gi", "80Gi"])
        XCTAssertEqual(models.map(\.count), [2, 2])
        XCTAssertEqual(models.map(\.available), [2, 2])

        let taken = inventory.models(allocated: [FakeGPUTree.gpus[0].uuid, FakeGPUTree.gpus[3].uuid, "GPU-not-here"])
        XCTAssertEqual(taken.map(\.available), [1, 1])
        XCTAssertEqual(taken.map(\.count), [2, 2])
    }

    func testDeviceNodesComeFromTheHostNodesAndTheKernelsMajors() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        let inventory = try await GPUDiscovery(hostRoot: tree.root).discover()
        let driver = try XCTUnwrap(inventory.driver)
        XCTAssertEqual(driver.version, FakeGPUTree.version)
        XCTAssertEqual(driver.gpuNodes.keys.sorted(), [0, 1, 2, 3])
        XCTAssertEqual(driver.gpuNodes[2], DeviceNode(path: "/dev/nvidia2", type: "c", major: 195, minor: 2, fileMode: 0o666))
        XCTAssertEqual(driver.controlNodes, [
            DeviceNode(path: "/dev/nvidiactl", type: "c", major: 195, minor: 255, fileMode: 0o666),
            DeviceNode(path: "/dev/nvidia-uvm", type: "c", major: 511, minor: 0, fileMode: 0o666),
            // Not on the host, but the kernel has nvidia-uvm: runc makes it from the numbers.
            DeviceNode(path: "/dev/nvidia-uvm-tools", type: "c", major: 511, minor: 1, fileMode: 0o666),
        ])
    }

    func testLibrariesAreTheDriversVersionAtTheirPathsAndLinks() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        let inventory = try await GPUDiscovery(hostRoot: tree.root).discover()
        let mounts = try XCTUnwrap(inventory.driver?.mounts)
        let lib = FakeGPUTree.libraryDirectory
        let version = FakeGPUTree.version
        let expected: [String: String] = [
            "\(lib)/libnvidia-ml.so.\(version)": "\(lib)/libnvidia-ml.so.\(version)",
            "\(lib)/libnvidia-ml.so.1": "\(lib)/libnvidia-ml.so.\(version)",
            "\(lib)/libnvidia-ml.so": "\(lib)/libnvidia-ml.so.\(version)",
            "\(lib)/libcuda.so.\(version)": "\(lib)/libcuda.so.\(version)",
            // Named by the linker cache as /lib/x86_64-linux-gnu/libcuda.so.1; /lib is usr/lib.
            "\(lib)/libcuda.so.1": "\(lib)/libcuda.so.\(version)",
            "\(lib)/libcuda.so": "\(lib)/libcuda.so.\(version)",
            // Only the linker cache knows this folder.
            "/opt/nvidia/lib/libnvidia-ptxjitcompiler.so.\(version)": "/opt/nvidia/lib/libnvidia-ptxjitcompiler.so.\(version)",
            "/opt/nvidia/lib/libnvidia-ptxjitcompiler.so.1": "/opt/nvidia/lib/libnvidia-ptxjitcompiler.so.\(version)",
            "/usr/bin/nvidia-smi": "/usr/bin/nvidia-smi",
        ]
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: mounts.map { ($0.destination, $0.source) }),
                       expected.mapValues { tree.path($0) })
        XCTAssertFalse(mounts.contains { $0.source.contains("535.104.05") })
    }

    func testWithoutTheDriversVersionTheLinkedLibraryIsTaken() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        try FileManager.default.removeItem(atPath: tree.path("/proc/driver/nvidia/version"))
        try FileManager.default.removeItem(atPath: tree.path("/etc/ld.so.cache"))
        let inventory = try await GPUDiscovery(hostRoot: tree.root).discover()
        let mounts = try XCTUnwrap(inventory.driver?.mounts)
        XCTAssertEqual(mounts.first { $0.destination == "\(FakeGPUTree.libraryDirectory)/libcuda.so.1" }?.source,
                       tree.path("\(FakeGPUTree.libraryDirectory)/libcuda.so.\(FakeGPUTree.version)"))
        // Without the cache, nothing points to /opt/nvidia/lib.
        XCTAssertFalse(mounts.contains { $0.destination.hasPrefix("/opt/") })
    }

    func testMemoryIsUnknownWithoutNvidiaSMI() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        try FileManager.default.removeItem(atPath: tree.path("/usr/bin/nvidia-smi"))
        let inventory = try await GPUDiscovery(hostRoot: tree.root).discover()
        XCTAssertEqual(inventory.devices.count, 4)
        XCTAssertEqual(inventory.devices.map(\.memoryBytes), [nil, nil, nil, nil])
        XCTAssertEqual(inventory.models(allocated: []).map(\.memory), ["unknown", "unknown"])
    }

    func testFailingNvidiaSMILeavesMemoryUnknown() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        try tree.write("/usr/bin/nvidia-smi", "#!/bin/sh\necho 'NVIDIA-SMI has failed' ; exit 9\n", mode: 0o755)
        let inventory = try await GPUDiscovery(hostRoot: tree.root).discover()
        XCTAssertEqual(inventory.devices.compactMap(\.memoryBytes), [])
    }

    func testAHungNvidiaSMIIsGivenUpOn() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        try tree.write("/usr/bin/nvidia-smi", "#!/bin/sh\nexec sleep 30\n", mode: 0o755)
        let started = ContinuousClock.now
        let inventory = try await GPUDiscovery(hostRoot: tree.root, nvidiaSMITimeout: .milliseconds(300)).discover()
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10))
        XCTAssertEqual(inventory.devices.count, 4)
        XCTAssertEqual(inventory.devices.compactMap(\.memoryBytes), [])
    }

    func testAHostWithoutGPUsHasAnEmptyInventory() async throws {
        let tree = try FakeGPUTree.empty()
        defer { tree.remove() }
        try tree.write("/proc/devices", "Character devices:\n  1 mem\n\nBlock devices:\n  7 loop\n")
        let inventory = try await GPUDiscovery(hostRoot: tree.root).discover()
        XCTAssertEqual(inventory, .empty)
        XCTAssertEqual(inventory.source, .none)
        XCTAssertTrue(inventory.models(allocated: []).isEmpty)
        XCTAssertEqual(try inventory.choose(0, model: nil, allocated: []), [])
        XCTAssertThrowsError(try inventory.choose(1, model: nil, allocated: [])) { error in
            XCTAssertEqual("\(error)", "1 GPU asked, this node has none")
        }
        XCTAssertEqual(try GPUDiscovery(hostRoot: tree.root).injection(for: [], inventory: inventory).count, 0)
    }

    func testAMissingGPUNodeIsMadeFromTheDriversNumbers() async throws {
        let tree = try FakeGPUTree.withDriver()
        defer { tree.remove() }
        try FileManager.default.removeItem(atPath: tree.path("/dev/nvidia3"))
        let inventory = try await GPUDiscovery(hostRoot: tree.root).discover()
        XCTAssertEqual(inventory.driver?.gpuNodes[3], DeviceNode(path: "/dev/nvidia3", type: "c", major: 195, minor: 3, fileMode: 0o666))
    }

    // MARK: - Parsers

    func testInformationFile() {
        let gpu = DriverInfo.parseInformation("""
            Model: \t\t NVIDIA H200
            IRQ:   \t\t 143
            GPU UUID: \t GPU-8c1e5a2b-0000-4000-8000-000000000000
            Bus Location: \t 0000:19:00.0
            Device Minor: \t 7
            """)
        XCTAssertEqual(gpu, DriverInfo.GPU(model: "NVIDIA H200", uuid: "GPU-8c1e5a2b-0000-4000-8000-000000000000", minor: 7,
                                           busLocation: "0000:19:00.0"))
        let unknown = DriverInfo.parseInformation("Model: \t NVIDIA A100-SXM4-80GB\nGPU UUID: \t ??\nDevice Minor: \t 0\n")
        XCTAssertNil(unknown.uuid)
        XCTAssertEqual(unknown.minor, 0)
    }

    func testProcDevicesReadsCharacterMajorsOnly() {
        let majors = DriverInfo.parseDevices("""
            Character devices:
              1 mem
            195 nvidia
            234 nvidia-uvm
            241 nvidia-caps

            Block devices:
            195 not-a-char
              8 sd
            """)
        XCTAssertEqual(majors, ["mem": 1, "nvidia": 195, "nvidia-uvm": 234, "nvidia-caps": 241, ])
        XCTAssertEqual(DriverInfo.frontendMajor(majors), 195)
    }

    func testNvidiaSMIOutput() {
        XCTAssertEqual(NvidiaSMI.parse("GPU-aaa, 143771\nGPU-bbb, [N/A]\n\ngarbage\nGPU-ccc,81920\n"),
                       ["GPU-aaa": 143_771 << 20, "GPU-ccc": 81_920 << 20])
    }

    func testMemoryText() {
        XCTAssertEqual(GPUMemoryText.describe(143_771 << 20), "141Gi")   // H200
        XCTAssertEqual(GPUMemoryText.describe(81_559 << 20), "80Gi")     // H100 80GB
        XCTAssertEqual(GPUMemoryText.describe(81_920 << 20), "80Gi")     // A100 80GB
        XCTAssertEqual(GPUMemoryText.describe(24_564 << 20), "24Gi")     // L4
        XCTAssertEqual(GPUMemoryText.describe(1), "1Gi")
        XCTAssertEqual(GPUMemoryText.describe(Int64(2048) << 30), "2Ti")
        XCTAssertEqual(GPUMemoryText.describe(nil), "unknown")
        XCTAssertEqual(GPUMemoryText.describe(0), "unknown")
    }
}

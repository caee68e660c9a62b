import Foundation
import OCI
import Runtime
import XCTest

/// What the built spec confines a container with: the seccomp profile (or none when the operator
/// chose "unconfined"), a cgroup namespace, and the masked host-information paths.
final class SpecConfinementTests: XCTestCase {
    func inputs() -> SpecInputs {
        var config = ImageConfig.Config()
        config.Cmd = ["/bin/sh"]
        return SpecInputs(runtimeID: "c0ffee-r1", hostname: "hello", imageConfig: config, port: 8080, cpu: 1,
                          memoryBytes: 512 << 20, networkNamespacePath: "/var/run/netns/berth-c0ffee-r1")
    }

    func testEveryContainerGetsTheDefaultProfile() throws {
        let spec = try RuntimeSpecBuilder.build(inputs())
        XCTAssertEqual(spec.linux?.seccomp, SeccompProfile.default())
        XCTAssertEqual(spec.linux?.seccomp, SeccompMode.default.profile())
        let text = String(decoding: try spec.encoded(), as: UTF8.self)
        XCTAssertTrue(text.contains(#""seccomp":{"architectures":["#), text)
        XCTAssertTrue(text.contains(#""defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1"#), text)
    }

    func testUnconfinedOmitsSeccomp() throws {
        XCTAssertNil(SeccompMode.unconfined.profile())
        var inputs = inputs()
        inputs.seccomp = SeccompMode.unconfined.profile()
        let spec = try RuntimeSpecBuilder.build(inputs)
        XCTAssertNil(spec.linux?.seccomp)
        XCTAssertFalse(String(decoding: try spec.encoded(), as: UTF8.self).contains("seccomp"))
        XCTAssertEqual(SeccompMode(rawValue: "unconfined"), .unconfined)
        XCTAssertNil(SeccompMode(rawValue: "off"))
    }

    func testCgroupNamespaceNextToContainerdsFive() throws {
        let namespaces = try XCTUnwrap(try RuntimeSpecBuilder.build(inputs()).linux?.namespaces)
        XCTAssertEqual(namespaces.map(\.type), ["pid", "ipc", "uts", "mount", "network", "cgroup"])
        XCTAssertEqual(namespaces.first { $0.type == "cgroup" }?.path, nil, "a new one, not a host path")
        XCTAssertFalse(namespaces.contains { $0.path != nil && $0.type != "network" })
    }

    func testHostInformationPathsAreMasked() throws {
        let masked = try XCTUnwrap(try RuntimeSpecBuilder.build(inputs()).linux?.maskedPaths)
        for path in ["/proc/driver/nvidia", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/timer_list",
                     "/proc/sched_debug", "/sys/firmware", "/sys/devices/virtual/powercap", "/proc/acpi", "/proc/scsi"] {
            XCTAssertTrue(masked.contains(path), path)
        }
        XCTAssertEqual(Set(masked).count, masked.count)
    }
}

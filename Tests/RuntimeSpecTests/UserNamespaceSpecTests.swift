import Foundation
import OCI
import Runtime
import XCTest

/// The spec of a container in a user namespace.
final class UserNamespaceSpecTests: XCTestCase {
    func inputs(user: String? = nil, mapping: UserNamespaceMapping?) -> SpecInputs {
        var config = ImageConfig.Config()
        config.Cmd = ["/bin/sh"]
        config.User = user
        var inputs = SpecInputs(runtimeID: "c-r1", hostname: "c", imageConfig: config, port: 8080, cpu: 1, memoryBytes: 1 << 26,
                                networkNamespacePath: "/run/netns/c")
        inputs.userNamespace = mapping
        return inputs
    }

    func testAUserNamespaceMapsEveryIDOntoTheRangeAndBindsSys() throws {
        let mapping = try UserNamespaceMapping(base: 0x7000_0000)
        let spec = try RuntimeSpecBuilder.build(inputs(mapping: mapping))
        let expected = [RuntimeSpec.IDMapping(containerID: 0, hostID: 0x7000_0000, size: 65536)]
        XCTAssertEqual(spec.linux?.uidMappings, expected)
        XCTAssertEqual(spec.linux?.gidMappings, expected)
        let namespaces = spec.linux?.namespaces ?? []
        XCTAssertEqual(namespaces.filter { $0.type == "user" }, [RuntimeSpec.Namespace(type: "user")])
        XCTAssertEqual(namespaces.first { $0.type == "network" }?.path, "/run/netns/c", "the CNI namespace is still joined")
        let sys = spec.mounts?.filter { $0.destination == "/sys" }
        XCTAssertEqual(sys, [RuntimeSpec.Mount(destination: "/sys", type: "bind", source: "/sys",
                                               options: ["rbind", "nosuid", "noexec", "nodev", "ro"])])
        // Everything else is as without a user namespace; devpts' gid 5 is mapped.
        let plain = try RuntimeSpecBuilder.build(inputs(mapping: nil))
        XCTAssertEqual(spec.mounts?.filter { $0.destination != "/sys" }, plain.mounts?.filter { $0.destination != "/sys" })
        XCTAssertNotNil(mapping.hostID(5))
        // JSON field names as runc reads them.
        let json = String(decoding: try spec.encoded(), as: UTF8.self)
        XCTAssertTrue(json.contains(#""uidMappings":[{"containerID":0,"hostID":1879048192,"size":65536}]"#), json)
    }

    func testWithoutAUserNamespaceNothingChanges() throws {
        let spec = try RuntimeSpecBuilder.build(inputs(mapping: nil))
        XCTAssertNil(spec.linux?.uidMappings)
        XCTAssertNil(spec.linux?.gidMappings)
        XCTAssertFalse(spec.linux?.namespaces?.contains { $0.type == "user" } ?? true)
        XCTAssertEqual(spec.mounts?.first { $0.destination == "/sys" }?.type, "sysfs")
    }

    func testAnImageUserOutsideTheRangeIsRefusedByName() throws {
        let mapping = try UserNamespaceMapping(base: 0x7000_0000)
        XCTAssertThrowsError(try RuntimeSpecBuilder.build(inputs(user: "70000:0", mapping: mapping))) { error in
            XCTAssertEqual("\(error)", "image user: id 70000 is outside the container's user namespace (0…65535)")
        }
        XCTAssertEqual(try RuntimeSpecBuilder.build(inputs(user: "65534:65534", mapping: mapping)).process?.user.uid, 65534)
    }

    func testRangesThatWouldMapOntoHostUsersAreRefused() {
        XCTAssertThrowsError(try UserNamespaceMapping(base: 0)) { XCTAssertEqual($0 as? UserNamespaceMapping.Problem, .overlapsHostUsers(base: 0)) }
        XCTAssertThrowsError(try UserNamespaceMapping(base: 65535))
        XCTAssertThrowsError(try UserNamespaceMapping(base: 100_000, size: 1000))
        XCTAssertThrowsError(try UserNamespaceMapping(base: UInt32.max - 65535))
        XCTAssertNoThrow(try UserNamespaceMapping(base: 65536))
        XCTAssertEqual(UserNamespaceMapping(label: "1879048192:65536")?.base, 0x7000_0000)
        XCTAssertNil(UserNamespaceMapping(label: "0:65536"))
        XCTAssertNil(UserNamespaceMapping(label: "garbage"))
    }
}

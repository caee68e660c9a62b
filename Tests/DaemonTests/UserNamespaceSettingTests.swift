import Daemon
import Foundation
import Runtime
import XCTest

/// `runtime.user_namespaces`, `runtime.userns_base`, `runtime.userns_size`.
final class UserNamespaceSettingTests: XCTestCase {
    func resolve(_ toml: String, environment: [String: String] = [:], flags: DaemonFlags = DaemonFlags()) throws -> DaemonConfiguration {
        let folder = try TemporaryFolder()
        var flags = flags
        flags.configFile = try folder.write("berthd.toml", toml)
        return try DaemonConfiguration.resolve(flags: flags, environment: environment)
    }

    func testModesFromFileEnvironmentAndFlag() throws {
        XCTAssertEqual(try resolve("[runtime]\nuser_namespaces = true\n").userNamespaces, .on)
        XCTAssertEqual(try resolve("[runtime]\nuser_namespaces = false\n").userNamespaces, .off)
        XCTAssertEqual(try resolve("[runtime]\nuser_namespaces = \"auto\"\n").userNamespaces, .auto)
        XCTAssertEqual(try resolve("", environment: ["BERTH_USER_NAMESPACES": "true"]).userNamespaces, .on)
        var flags = DaemonFlags()
        flags.userNamespaces = "auto"
        flags.usernsBase = "2147483648"
        let configuration = try resolve("[runtime]\nuser_namespaces = false\nuserns_base = 100000\n", flags: flags)
        XCTAssertEqual(configuration.userNamespaces, .auto)
        XCTAssertEqual(configuration.usernsBase, 2_147_483_648)
        XCTAssertEqual(configuration.usernsSize, 65536)
    }

    func testTheMappingFollowsTheModeAndTheKernel() throws {
        var configuration = try resolve("[runtime]\nuser_namespaces = \"auto\"\nuserns_base = 200000\n")
        XCTAssertEqual(try configuration.userNamespaceMapping(hostSupports: true), try UserNamespaceMapping(base: 200_000))
        XCTAssertNil(try configuration.userNamespaceMapping(hostSupports: false))
        configuration.userNamespaces = .off
        XCTAssertNil(try configuration.userNamespaceMapping(hostSupports: true))
        configuration.userNamespaces = .on
        XCTAssertThrowsError(try configuration.userNamespaceMapping(hostSupports: false)) { error in
            XCTAssertTrue("\(error)".contains("runtime.user_namespaces: this kernel has no user namespaces"), "\(error)")
        }
        // On by default where the kernel has them, off where it does not.
        XCTAssertEqual(try DaemonConfiguration.defaults.userNamespaceMapping(hostSupports: true), try UserNamespaceMapping())
        XCTAssertNil(try DaemonConfiguration.defaults.userNamespaceMapping(hostSupports: false))
    }

    func testUnsafeRangesAreOneLineErrors() throws {
        for (toml, expected) in [
            ("[runtime]\nuser_namespaces = true\nuserns_base = 1000\n",
             "runtime.userns_base: base 1000 overlaps the host's own users and groups (0…65535): container root would be a host account"),
            ("[runtime]\nuserns_size = 1000\n", "runtime.userns_size: a range of 1000 ids is too small"),
            ("[runtime]\nuserns_base = 4294901760\nuserns_size = 65536\n", "passes the last usable id (4294967294)"),
            ("[runtime]\nuserns_base = -1\n", "runtime.userns_base: expected an id from 0 to 4294967295"),
            ("[runtime]\nuser_namespaces = \"sometimes\"\n", #"runtime.user_namespaces: expected true, false or "auto""#),
        ] {
            XCTAssertThrowsError(try resolve(toml).userNamespaceMapping(hostSupports: true)) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(expected), message)
                XCTAssertFalse(message.contains("\n"), message)
            }
        }
    }

    func testHostSupportIsReadFromProc() throws {
        let folder = try TemporaryFolder()
        XCTAssertFalse(UserNamespaceMapping.hostSupportsUserNamespaces(procRoot: folder.path))
        _ = try folder.write("self/ns/user", "")
        _ = try folder.write("sys/user/max_user_namespaces", "0\n")
        XCTAssertFalse(UserNamespaceMapping.hostSupportsUserNamespaces(procRoot: folder.path))
        _ = try folder.write("sys/user/max_user_namespaces", "15000\n")
        XCTAssertTrue(UserNamespaceMapping.hostSupportsUserNamespaces(procRoot: folder.path))
    }
}

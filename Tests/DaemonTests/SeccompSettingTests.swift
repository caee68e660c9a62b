import Daemon
import Foundation
import XCTest

/// `runtime.seccomp`: "default" unless the operator loosens it explicitly, from any source.
final class SeccompSettingTests: XCTestCase {
    func resolve(_ toml: String, environment: [String: String] = [:], flags: DaemonFlags = DaemonFlags()) throws -> DaemonConfiguration {
        let folder = try TemporaryFolder()
        var flags = flags
        flags.configFile = try folder.write("berthd.toml", toml)
        return try DaemonConfiguration.resolve(flags: flags, environment: environment)
    }

    func testDefaultIsTheDefaultProfile() throws {
        XCTAssertEqual(DaemonConfiguration.defaults.seccomp.rawValue, "default")
        XCTAssertEqual(try resolve("").seccomp.rawValue, "default")
    }

    func testUnconfinedFromFileEnvironmentAndFlag() throws {
        XCTAssertEqual(try resolve("[runtime]\nseccomp = \"unconfined\"\n").seccomp.rawValue, "unconfined")
        XCTAssertEqual(try resolve("", environment: ["BERTH_SECCOMP": "unconfined"]).seccomp.rawValue, "unconfined")
        var flags = DaemonFlags()
        flags.seccomp = "default"
        XCTAssertEqual(try resolve("[runtime]\nseccomp = \"unconfined\"\n", flags: flags).seccomp.rawValue, "default")
    }

    func testAnythingElseIsAOneLineError() throws {
        for (toml, expected) in [
            ("[runtime]\nseccomp = \"off\"\n", #"runtime.seccomp: "off" is not a seccomp mode; expected "default" or "unconfined""#),
            ("[runtime]\nseccomp = true\n", "runtime.seccomp: expected a string, found a boolean"),
        ] {
            XCTAssertThrowsError(try resolve(toml)) { error in
                let message = "\(error)"
                XCTAssertTrue(message.hasSuffix(expected), message)
                XCTAssertFalse(message.contains("\n"), message)
            }
        }
    }
}

import XCTest
@testable import TestSupport

final class TestEnvironmentTests: XCTestCase {
    private let complete: [String: String] = Dictionary(uniqueKeysWithValues: TestEnvironment.variableNames.map { ($0, "x") })

    func testReadsEveryVariable() throws {
        var environment = complete
        environment["BERTH_TEST_REGISTRY"] = "127.0.0.1:5000"
        environment["BERTH_TEST_SCRATCH"] = "/tmp/scratch"
        let current = try TestEnvironment.current(environment)
        XCTAssertEqual(current.registry, "127.0.0.1:5000")
        XCTAssertEqual(current.scratch, "/tmp/scratch")
    }

    func testMissingVariableSkipsOutsideCI() {
        var environment = complete
        environment["BERTH_TEST_TOKEN_SERVER"] = nil
        XCTAssertThrowsError(try TestEnvironment.current(environment)) { error in
            XCTAssertTrue(error is XCTSkip, "\(error)")
            XCTAssertTrue("\(error)".contains("scripts/test.sh"), "\(error)")
        }
    }

    func testMissingVariableFailsInCI() {
        var environment = complete
        environment["BERTH_TEST_CONTAINERD_SOCKET"] = nil
        environment["CI"] = "1"
        XCTAssertThrowsError(try TestEnvironment.current(environment)) { error in
            XCTAssertFalse(error is XCTSkip)
            XCTAssertTrue("\(error)".contains("BERTH_TEST_CONTAINERD_SOCKET"), "\(error)")
        }
    }

    func testMakeTemporaryDirectoryIsFreshEachTime() throws {
        let environment = try TestEnvironment.current()
        let first = try environment.makeTemporaryDirectory("fresh")
        let second = try environment.makeTemporaryDirectory("fresh")
        XCTAssertNotEqual(first, second)
        XCTAssertTrue(first.hasPrefix(environment.scratch + "/fresh-"))
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: second, isDirectory: &isDirectory) && isDirectory.boolValue)
    }

    func testRunCommandReportsStderrOnFailure() throws {
        XCTAssertEqual(try runCommand("sh", ["-c", "echo out"]), "out\n")
        XCTAssertEqual(try runCommand("sh", ["-c", "echo $BERTH_X"], environment: ["BERTH_X": "y"]), "y\n")
        XCTAssertThrowsError(try runCommand("sh", ["-c", "echo broken >&2; exit 3"])) { error in
            XCTAssertTrue("\(error)".contains("broken"), "\(error)")
            XCTAssertTrue("\(error)".contains("status 3"), "\(error)")
        }
    }
}

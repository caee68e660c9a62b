@testable import CNI
import Foundation
import JSONValue
import Logging
import XCTest

/// The execution protocol against stand-in plugins (shell scripts): environment, stdin,
/// chaining, order, errors, timeouts. No root needed.
final class PluginExecutorTests: XCTestCase {
    private var directory = ""

    override func setUp() async throws {
        directory = NSTemporaryDirectory() + "berth-cni-exec-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/log", withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A plugin that records its stdin, its CNI_* environment and the call order, then prints
    /// `output` and exits with `status`.
    private func makePlugin(_ name: String, output: String, status: Int = 0) {
        let log = directory + "/log"
        let script = """
        #!/bin/sh
        cat > "\(log)/$CNI_COMMAND-\(name).stdin"
        env | grep '^CNI_' | sort > "\(log)/$CNI_COMMAND-\(name).env"
        echo "$CNI_COMMAND \(name)" >> "\(log)/order"
        cat <<'JSON'
        \(output)
        JSON
        exit \(status)
        """
        _ = FileManager.default.createFile(atPath: directory + "/" + name, contents: Data(script.utf8),
                                           attributes: [.posixPermissions: 0o755])
    }

    private func logged(_ file: String) throws -> String {
        try String(contentsOfFile: directory + "/log/" + file, encoding: .utf8)
    }

    private func list(_ plugins: [String]) -> JSONValue {
        .object(["cniVersion": .string("1.0.0"), "name": .string("testnet"),
                 "plugins": .array(plugins.map { .object(["type": .string($0), "setting": .integer(7)]) })])
    }

    private var executor: PluginExecutor {
        PluginExecutor(pluginDirectories: ["/nonexistent", directory], logger: Logger(label: "test"))
    }

    func testAddChainsPrevResultAndSetsTheEnvironment() async throws {
        makePlugin("first", output: #"{"cniVersion":"1.0.0","ips":[{"address":"10.9.0.2/24"}]}"#)
        makePlugin("second", output: #"{"cniVersion":"1.0.0","ips":[{"address":"10.9.0.2/24"}],"extra":true}"#)
        let result = try await executor.add(list: list(["first", "second"]), containerID: "abc", netns: "/run/netns/x", ifName: "eth0")
        XCTAssertEqual(result["extra"], .bool(true), "the last plugin's result")

        let first = try JSONValue.parse(Data(try logged("ADD-first.stdin").utf8))
        XCTAssertEqual(first["cniVersion"], .string("1.0.0"))
        XCTAssertEqual(first["name"], .string("testnet"))
        XCTAssertEqual(first["type"], .string("first"))
        XCTAssertEqual(first["setting"], .integer(7))
        XCTAssertNil(first["prevResult"])
        let second = try JSONValue.parse(Data(try logged("ADD-second.stdin").utf8))
        XCTAssertEqual(second["prevResult"]?["ips"], .array([.object(["address": .string("10.9.0.2/24")])]))

        let environment = try logged("ADD-first.env")
        for line in ["CNI_COMMAND=ADD", "CNI_CONTAINERID=abc", "CNI_NETNS=/run/netns/x", "CNI_IFNAME=eth0",
                     "CNI_PATH=/nonexistent:\(directory)"] {
            XCTAssertTrue(environment.contains(line + "\n"), "\(line) in \(environment)")
        }
        XCTAssertEqual(try logged("order"), "ADD first\nADD second\n")
    }

    func testDeleteRunsInReverseWithTheCachedResultAndCheckInOrder() async throws {
        makePlugin("first", output: "")
        makePlugin("second", output: "")
        let cached: JSONValue = .object(["cniVersion": .string("1.0.0"), "ips": .array([])])
        try await executor.delete(list: list(["first", "second"]), prevResult: cached, containerID: "abc", netns: "", ifName: "eth0")
        XCTAssertEqual(try logged("order"), "DEL second\nDEL first\n")
        XCTAssertEqual(try JSONValue.parse(Data(try logged("DEL-first.stdin").utf8))["prevResult"], cached)
        XCTAssertTrue(try logged("DEL-first.env").contains("CNI_NETNS=\n"))

        try await executor.check(list: list(["first", "second"]), prevResult: cached, containerID: "abc", netns: "/n", ifName: "eth0")
        XCTAssertTrue(try logged("order").hasSuffix("CHECK first\nCHECK second\n"))
        XCTAssertEqual(try JSONValue.parse(Data(try logged("CHECK-second.stdin").utf8))["prevResult"], cached)
    }

    func testDeleteRunsEveryPluginAndThrowsTheFirstFailure() async throws {
        makePlugin("first", output: "")
        makePlugin("second", output: #"{"cniVersion":"1.0.0","code":11,"msg":"busy","details":"try later"}"#, status: 1)
        do {
            try await executor.delete(list: list(["first", "second"]), prevResult: nil, containerID: "abc", netns: "", ifName: "eth0")
            XCTFail("DEL succeeded")
        } catch let error as CNIError {
            XCTAssertEqual(error.code, 11)
            XCTAssertEqual(error.message, "busy")
            XCTAssertEqual(error.details, "try later")
            XCTAssertEqual(error.plugin, "second")
            XCTAssertEqual(error.command, "DEL")
            XCTAssertTrue(error.description.contains("code 11: try again later"), error.description)
        }
        XCTAssertEqual(try logged("order"), "DEL second\nDEL first\n")
    }

    func testFailureWithoutErrorJSONUsesTheExitStatusAndStderr() async throws {
        let script = "#!/bin/sh\necho 'something broke' >&2\nexit 3\n"
        _ = FileManager.default.createFile(atPath: directory + "/broken", contents: Data(script.utf8), attributes: [.posixPermissions: 0o755])
        do {
            _ = try await executor.add(list: list(["broken"]), containerID: "abc", netns: "/n", ifName: "eth0")
            XCTFail("ADD succeeded")
        } catch let error as CNIError {
            XCTAssertNil(error.code)
            XCTAssertTrue(error.message.contains("exited with status 3"), error.message)
            XCTAssertTrue(error.message.contains("something broke"), error.message)
        }
    }

    func testAddRejectsANonJSONResult() async throws {
        makePlugin("chatty", output: "hello")
        do {
            _ = try await executor.add(list: list(["chatty"]), containerID: "abc", netns: "/n", ifName: "eth0")
            XCTFail("ADD succeeded")
        } catch let error as CNIError {
            XCTAssertTrue(error.message.contains("not a JSON object"), error.message)
        }
    }

    func testAMissingPluginIsNamed() async throws {
        do {
            _ = try await executor.add(list: list(["nothere"]), containerID: "abc", netns: "/n", ifName: "eth0")
            XCTFail("ADD succeeded")
        } catch let error as CNIError {
            XCTAssertEqual(error.plugin, "nothere")
            XCTAssertTrue(error.message.contains("not found in /nonexistent, \(directory)"), error.message)
        }
    }

    // The runner itself (deadline, large stdin and stdout) is tested in HostProcessTests.
}

import Foundation
import HostProcess
import TestSupport
import XCTest

/// The built `berth` binary as a person runs it: its own HOME (so `berth login` writes a config
/// of its own), no BERTH_* or NO_COLOR from the test's environment unless given.
struct BerthBinary {
    /// Next to this test bundle in the build folder.
    static var path: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("berth").path
    }

    let home: String
    var environment: [String: String] = [:]

    init(home: String) {
        self.home = home
    }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String

        var json: [String: Any] {
            get throws {
                guard let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any] else {
                    throw TestSupportError("not a JSON object: \(stdout)")
                }
                return object
            }
        }
    }

    /// This process's environment without BERTH_*, NO_COLOR and XDG_CONFIG_HOME, with HOME and
    /// the given variables set.
    func processEnvironment(_ extra: [String: String]) -> [String: String] {
        var merged = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BERTH_") && $0.key != "NO_COLOR" && $0.key != "XDG_CONFIG_HOME" }
        merged["HOME"] = home
        merged.merge(environment) { $1 }
        merged.merge(extra) { $1 }
        return merged
    }

    func environmentList(_ extra: [String: String]) -> [String] {
        processEnvironment(extra).map { "\($0.key)=\($0.value)" }
    }

    func run(_ arguments: [String], environment extra: [String: String] = [:], timeout: Duration = .seconds(120)) async throws -> Outcome {
        let output = try await HostProcess.run(Self.path, arguments: arguments, environment: environmentList(extra), timeout: timeout)
        if output.timedOut { throw TestSupportError("berth \(arguments.joined(separator: " ")) ran past \(timeout)") }
        return Outcome(status: output.exitStatus ?? -1, stdout: output.stdoutText, stderr: output.stderrText)
    }

    /// Runs under a pseudo-terminal (util-linux `script`): what a person at a terminal sees,
    /// standard output and error together.
    func runOnTerminal(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> Outcome {
        let command = ([Self.path] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let output = try await HostProcess.run("/usr/bin/script", arguments: ["-q", "-e", "-c", command, "/dev/null"],
                                               environment: environmentList(["TERM": "xterm-256color"]), timeout: timeout)
        if output.timedOut { throw TestSupportError("berth \(arguments.joined(separator: " ")) ran past \(timeout) on a terminal") }
        return Outcome(status: output.exitStatus ?? -1, stdout: output.stdoutText, stderr: output.stderrText)
    }

    /// A run that lasts (`logs -f`): its standard output goes to a file the test reads.
    func start(_ arguments: [String]) throws -> (Process, String) {
        let file = home + "/out-\(UUID().uuidString.prefix(8))"
        FileManager.default.createFile(atPath: file, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.path)
        process.arguments = arguments
        process.environment = processEnvironment([:])
        FileManager.default.createFile(atPath: file + ".err", contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: file)
        process.standardError = FileHandle(forWritingAtPath: file + ".err")
        try process.run()
        return (process, file)
    }
}

/// A failure as the brief asks for it: a non-zero status of the expected kind and exactly one
/// line on standard error.
func assertOneLineFailure(_ outcome: BerthBinary.Outcome, status: Int32, containing text: String,
                          file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(outcome.status, status, "stdout: \(outcome.stdout) stderr: \(outcome.stderr)", file: file, line: line)
    let lines = outcome.stderr.split(separator: "\n")
    XCTAssertEqual(lines.count, 1, "one line: \(outcome.stderr)", file: file, line: line)
    XCTAssertTrue(outcome.stderr.hasPrefix("berth: "), outcome.stderr, file: file, line: line)
    XCTAssertTrue(outcome.stderr.contains(text), "\(outcome.stderr) should say \(text)", file: file, line: line)
}

import Foundation
import HostProcess

/// A command that exited with a non-zero status or was killed by a signal.
public struct CommandError: Error, CustomStringConvertible, Sendable {
    public var command: [String]
    public var status: Int32
    public var signaled: Bool
    public var stdout: String
    public var stderr: String

    public var description: String {
        let how = signaled ? "was killed by signal \(status)" : "exited with status \(status)"
        let detail = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        return "`\(command.joined(separator: " "))` \(how)" + (detail.isEmpty ? "" : ": \(detail)")
    }
}

/// Runs a command, returns stdout; throws with stderr in the message on non-zero exit, or when
/// it runs past `timeout` (it is then killed). `environment`, when given, is added to (and
/// overrides) this process's environment. Berth's own runner (HostProcess) does the work.
@discardableResult
public func runCommand(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                       timeout: Duration = .seconds(300)) throws -> String {
    let merged = environment.map { extra in
        ProcessInfo.processInfo.environment.merging(extra) { $1 }.map { "\($0.key)=\($0.value)" }
    }
    let output = try HostProcess.runBlocking(try resolveExecutable(executable), arguments: arguments,
                                             environment: merged, timeout: timeout)
    guard output.succeeded else {
        let stderr = output.timedOut ? "timed out after \(timeout)\n" + output.stderrText : output.stderrText
        throw CommandError(command: [executable] + arguments, status: output.exitStatus ?? output.signal ?? -1,
                           signaled: output.exitStatus == nil, stdout: output.stdoutText, stderr: stderr)
    }
    return output.stdoutText
}

/// The full path of `name`, searched on PATH and then the sbin folders a non-login root shell
/// may lack.
func resolveExecutable(_ name: String) throws -> String {
    if name.contains("/") { return name }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let folders = path.split(separator: ":").map(String.init) + ["/usr/local/sbin", "/usr/sbin", "/sbin"]
    for folder in folders where !folder.isEmpty {
        let candidate = folder + "/" + name
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw CommandError(command: [name], status: 127, signaled: false, stdout: "",
                       stderr: "\(name) not found on PATH (\(path)); scripts/test.sh installs the test tools")
}

/// Runs blocking work (subprocesses, file I/O) on a thread of its own, so it does not hold up
/// one of the few threads of Swift's cooperative pool.
func onBlockingThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

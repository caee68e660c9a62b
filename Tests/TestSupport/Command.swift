import Foundation

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

/// Runs a command, returns stdout; throws with stderr in the message on non-zero exit.
/// `environment`, when given, is added to (and overrides) this process's environment.
@discardableResult
public func runCommand(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try resolveExecutable(executable))
    process.arguments = arguments
    if let environment {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()

    // Drain stderr on its own thread: a command that fills one pipe while we block reading the
    // other would otherwise never exit.
    let errorOutput = LockedValue(Data())
    let errorReader = stderr.fileHandleForReading
    let drained = DispatchSemaphore(value: 0)
    Thread {
        errorOutput.set(errorReader.readDataToEndOfFile())
        drained.signal()
    }.start()
    let output = stdout.fileHandleForReading.readDataToEndOfFile()
    drained.wait()
    process.waitUntilExit()

    let outputText = String(decoding: output, as: UTF8.self)
    guard process.terminationReason == .exit, process.terminationStatus == 0 else {
        throw CommandError(command: [executable] + arguments, status: process.terminationStatus,
                           signaled: process.terminationReason == .uncaughtSignal,
                           stdout: outputText, stderr: String(decoding: errorOutput.get(), as: UTF8.self))
    }
    return outputText
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

final class LockedValue<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func get() -> Value { lock.withLock { value } }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
}

import Foundation
import Logging

/// Memory per GPU from `nvidia-smi --query-gpu=uuid,memory.total --format=csv,noheader,nounits`
/// ("GPU-8c1…, 143771" per line, MiB). The driver's /proc files do not say how much memory a GPU
/// has; nvidia-smi asks NVML.
enum NvidiaSMI {
    static let arguments = ["--query-gpu=uuid,memory.total", "--format=csv,noheader,nounits"]

    /// Bytes by GPU UUID; empty (with a warning) when nvidia-smi fails or hangs past `timeout`.
    static func memory(executable: String, timeout: Duration, logger: Logger) async -> [String: Int64] {
        do {
            let result = try await ChildProcess.run(executable, arguments, timeout: timeout)
            guard result.status == 0 else {
                logger.warning("nvidia-smi failed; GPU memory unknown",
                               metadata: ["status": "\(result.status)", "output": "\(result.output.prefix(200))"])
                return [:]
            }
            return parse(result.output)
        } catch {
            logger.warning("nvidia-smi did not run; GPU memory unknown", metadata: ["error": "\(error)"])
            return [:]
        }
    }

    static func parse(_ output: String) -> [String: Int64] {
        var memory: [String: Int64] = [:]
        for line in output.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 2, fields[0].hasPrefix("GPU-"), let mebibytes = Int64(fields[1]), mebibytes > 0
            else { continue }
            memory[fields[0]] = mebibytes << 20
        }
        return memory
    }
}

/// Runs a program to completion with a time limit, collecting standard output.
enum ChildProcess {
    struct TimedOut: Error, CustomStringConvertible {
        var executable: String
        var timeout: Duration
        var description: String { "\(executable) did not finish within \(timeout)" }
    }

    static func run(_ executable: String, _ arguments: [String], timeout: Duration) async throws
        -> (status: Int32, output: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let once = ResumeOnce()
        return try await withCheckedThrowingContinuation { continuation in
            once.set(continuation)
            // A driver in trouble can leave nvidia-smi stuck in the kernel, where no signal
            // reaches it: the caller stops waiting either way.
            let timer = Task {
                try await Task.sleep(for: timeout)
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                once.resume(with: .failure(TimedOut(executable: executable, timeout: timeout)))
            }
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                timer.cancel()
                once.resume(with: .success((process.terminationStatus, String(decoding: data, as: UTF8.self))))
            }
        }
    }

    /// Resumes a continuation with whichever result comes first.
    private final class ResumeOnce: @unchecked Sendable {
        typealias Result = Swift.Result<(status: Int32, output: String), any Error>
        private let lock = NSLock()
        private var continuation: CheckedContinuation<(status: Int32, output: String), any Error>?

        func set(_ continuation: CheckedContinuation<(status: Int32, output: String), any Error>) {
            lock.withLock { self.continuation = continuation }
        }

        func resume(with result: Result) {
            let continuation = lock.withLock {
                defer { self.continuation = nil }
                return self.continuation
            }
            continuation?.resume(with: result)
        }
    }
}

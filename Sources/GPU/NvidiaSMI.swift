import Foundation
import HostProcess
import Logging

/// Memory per GPU from `nvidia-smi --query-gpu=uuid,memory.total --format=csv,noheader,nounits`
/// ("GPU-8c1…, 143771" per line, MiB). The driver's /proc files do not say how much memory a GPU
/// has; nvidia-smi asks NVML.
enum NvidiaSMI {
    static let arguments = ["--query-gpu=uuid,memory.total", "--format=csv,noheader,nounits"]

    /// Bytes by GPU UUID; empty (with a warning) when nvidia-smi fails or hangs past `timeout`.
    static func memory(executable: String, timeout: Duration, logger: Logger) async -> [String: Int64] {
        do {
            // A driver in trouble can leave nvidia-smi stuck in the kernel, where no signal
            // reaches it: HostProcess answers at the deadline either way.
            let result = try await HostProcess.run(executable, arguments: arguments, timeout: timeout)
            guard result.succeeded else {
                logger.warning("nvidia-smi failed; GPU memory unknown",
                               metadata: ["status": "\(result.ending(timeout: timeout))", "output": "\(result.stdoutText.prefix(200))"])
                return [:]
            }
            return parse(result.stdoutText)
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

import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs a host tool (mkfs, mount) to completion and returns its standard output; a non-zero
/// exit becomes an error carrying the tool's own message.
enum HostCommand {
    struct Failure: Error, CustomStringConvertible {
        var command: String
        var status: String
        var stderr: String

        var description: String {
            let detail = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            return "\(command) failed (\(status))\(detail.isEmpty ? "" : ": \(detail)")"
        }
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) async throws -> String {
        let result = try await Subprocess.run(
            .path(FilePath(executable)),
            arguments: Arguments(arguments),
            output: .string(limit: 1 << 20),
            error: .string(limit: 1 << 16)
        )
        guard case .exited(0) = result.terminationStatus else {
            throw Failure(command: ([executable] + arguments).joined(separator: " "),
                          status: "\(result.terminationStatus)", stderr: result.standardError ?? "")
        }
        return result.standardOutput ?? ""
    }
}

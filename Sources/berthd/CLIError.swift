import ArgumentParser
import Foundation

/// Prints `error` as one line on stderr and exits non-zero: what operators' scripts expect.
func fail(_ error: any Error) -> ExitCode {
    let message = String(describing: error).split(separator: "\n").joined(separator: " ")
    FileHandle.standardError.write(Data("berthd: error: \(message)\n".utf8))
    return ExitCode.failure
}

struct UsageError: Error, CustomStringConvertible {
    var description: String
}

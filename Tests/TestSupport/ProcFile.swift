import Foundation

/// A file under /proc, read to its end. /proc files report a size of 0, and
/// `String(contentsOfFile:)` reads such a file in one buffer of a few KiB: a long mount table
/// (a busy host) comes back cut short, and a mount at its end goes unseen.
public func readProcFile(_ path: String) throws -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw TestSupportError("cannot open \(path)")
    }
    defer { try? handle.close() }
    return String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
}

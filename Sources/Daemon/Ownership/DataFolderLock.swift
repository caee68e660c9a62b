import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive flock(2) on `<data>/berthd.lock`, held for the life of a Node: a second berthd
/// on the same data folder fails at once instead of recovering (and so removing) what the first
/// one runs. The holder's pid is written into the file for the message. flock locks belong to
/// the open file: the kernel drops the lock when the process dies, however it dies, so a stale
/// file never blocks a restart; and a second open in the same process conflicts too.
public final class DataFolderLock: Sendable {
    public static let fileName = "berthd.lock"

    public let path: String
    private let descriptor: Mutex<Int32>

    public init(dataDirectory: String) throws {
        path = URL(fileURLWithPath: dataDirectory).appendingPathComponent(Self.fileName).path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw DataFolderLockError(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let holder = Self.readPID(fd)
            close(fd)
            if reason == EWOULDBLOCK {
                throw DataFolderLockError(description:
                    "another berthd (pid \(holder.map(String.init) ?? "unknown")) holds \(path): one berthd per data folder")
            }
            throw DataFolderLockError(description: "cannot lock \(path): \(String(cString: strerror(reason)))")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        descriptor = Mutex(fd)
    }

    /// Drops the lock (closing the file); later calls do nothing. The file stays: removing it
    /// would let a berthd that opened it just before lock a file nobody else sees.
    public func release() {
        descriptor.withLock { fd in
            guard fd >= 0 else { return }
            close(fd)
            fd = -1
        }
    }

    public var isHeld: Bool { descriptor.withLock { $0 >= 0 } }

    deinit { release() }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

public struct DataFolderLockError: Error, CustomStringConvertible, Equatable {
    public var description: String
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Feeds a child's stdin and collects its stdout and stderr with poll, up to a deadline.
enum OutputPump {
    struct Collected {
        var stdout = Data()
        var stderr = Data()
    }

    /// Writes stdin and reads stdout and stderr until both reach end of file; true when the
    /// deadline passed first. Closes each descriptor it finishes with and sets it to -1.
    static func pump(stdin: Data, into input: inout Int32, stdout: inout Int32, stderr: inout Int32,
                     collected: inout Collected, deadline: ContinuousClock.Instant) -> Bool {
        var written = 0
        _ = fcntl(input, F_SETFL, O_NONBLOCK)
        if stdin.isEmpty { close(input); input = -1 }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while stdout >= 0 || stderr >= 0 {
            let remaining = deadline - .now
            if remaining <= .zero { return true }
            let milliseconds = Int32(clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1)
            var fds = [pollfd(fd: input, events: Int16(POLLOUT), revents: 0),
                       pollfd(fd: stdout, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: stderr, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, nfds_t(fds.count), milliseconds)
            if ready < 0 && errno != EINTR { return false }
            if ready <= 0 { continue }
            if input >= 0, fds[0].revents != 0 {
                let count = stdin.withUnsafeBytes { bytes in
                    write(input, bytes.baseAddress! + written, bytes.count - written)
                }
                if count > 0 { written += count }
                if written == stdin.count || (count < 0 && errno != EAGAIN && errno != EINTR) {
                    close(input)
                    input = -1
                }
            }
            for (index, isStdout) in [(1, true), (2, false)] where fds[index].fd >= 0 && fds[index].revents != 0 {
                let count = read(fds[index].fd, &buffer, buffer.count)
                if count > 0 {
                    if isStdout { collected.stdout.append(buffer, count: count) } else { collected.stderr.append(buffer, count: count) }
                } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                    close(fds[index].fd)
                    if isStdout { stdout = -1 } else { stderr = -1 }
                }
            }
        }
        return false
    }
}

/// glibc functions the Swift Glibc module does not export (they need _GNU_SOURCE), looked up
/// once by name.
enum SpawnCalls {
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    nonisolated(unsafe) private static let pipe2Function: Pipe2 = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2") else { fatalError("glibc has no pipe2") }
        return unsafeBitCast(symbol, to: Pipe2.self)
    }()

    /// A pipe whose ends are close-on-exec from the start, so a concurrent spawn elsewhere in
    /// the process cannot inherit them.
    static func pipe(_ ends: inout [Int32]) -> Int32 {
        ends.withUnsafeMutableBufferPointer { pipe2Function($0.baseAddress!, O_CLOEXEC) }
    }

    /// Descriptors Berth opened without O_CLOEXEC must not leak into children (a plugin's
    /// children could hold them open for long). glibc 2.34+ has addclosefrom_np.
    static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
        }
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How a short-lived child process ended.
struct ChildProcessOutput: Sendable {
    /// The exit status, or nil when a signal ended it.
    var exitStatus: Int32?
    var signal: Int32?
    var stdout: Data
    var stderr: Data
    var timedOut: Bool

    var succeeded: Bool { exitStatus == 0 && !timedOut }
}

/// Runs a short-lived child (a CNI plugin, iptables) with posix_spawn, feeding stdin and
/// collecting stdout and stderr on a thread of its own: the blocking poll and waitpid stay off
/// Swift's cooperative pool, and waitpid names the child so other reapers in the process are
/// not disturbed.
enum ChildProcess {
    struct SpawnError: Error, CustomStringConvertible {
        var executable: String
        var errno: Int32
        var description: String { "cannot run \(executable): \(String(cString: strerror(errno)))" }
    }

    static func run(_ executable: String, arguments: [String] = [], environment: [String],
                    stdin: Data = Data(), timeout: Duration = .seconds(60)) async throws -> ChildProcessOutput {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result {
                    try runBlocking(executable, arguments: arguments, environment: environment, stdin: stdin, timeout: timeout)
                })
            }
            thread.start()
        }
    }

    private static func runBlocking(_ executable: String, arguments: [String], environment: [String],
                                    stdin: Data, timeout: Duration) throws -> ChildProcessOutput {
        // A write to a plugin that already exited raises SIGPIPE on this thread; blocked, it
        // stays pending on the thread (discarded when the thread ends) and write returns EPIPE.
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)

        var input: [Int32] = [-1, -1], output: [Int32] = [-1, -1], errors: [Int32] = [-1, -1]
        defer { for fd in input + output + errors where fd >= 0 { close(fd) } }
        guard LinuxCalls.pipe(&input) == 0, LinuxCalls.pipe(&output) == 0, LinuxCalls.pipe(&errors) == 0 else {
            throw SpawnError(executable: executable, errno: errno)
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errors[1], 2)
        closeInheritedDescriptors(&actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &pipeSignal)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.map { strdup($0) } + [nil]
        defer { envp.forEach { free($0) } }

        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard spawned == 0 else { throw SpawnError(executable: executable, errno: spawned) }
        close(input[0]); input[0] = -1
        close(output[1]); output[1] = -1
        close(errors[1]); errors[1] = -1

        var collected = (stdout: Data(), stderr: Data())
        let deadline = ContinuousClock.now + timeout
        var timedOut = pump(stdin: stdin, into: &input[1], stdout: &output[0], stderr: &errors[0],
                            collected: &collected, deadline: deadline)
        var status: Int32 = 0
        // A child that closed its output normally exits at once; one that lingers is killed at
        // the deadline like one that never answered.
        while !timedOut {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { return makeOutput(status, collected, timedOut: false) }
            if reaped == -1 && errno != EINTR { break }
            if ContinuousClock.now >= deadline { timedOut = true } else { usleep(200) }
        }
        if timedOut { kill(pid, SIGKILL) }
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return makeOutput(status, collected, timedOut: timedOut)
    }

    private static func makeOutput(_ status: Int32, _ collected: (stdout: Data, stderr: Data), timedOut: Bool) -> ChildProcessOutput {
        let signal = status & 0x7f
        return ChildProcessOutput(exitStatus: signal == 0 ? (status >> 8) & 0xff : nil,
                                  signal: signal == 0 ? nil : signal,
                                  stdout: collected.stdout, stderr: collected.stderr, timedOut: timedOut)
    }

    /// Writes stdin and reads stdout and stderr until both reach end of file; true when the
    /// deadline passed first. Closes each descriptor it finishes with and sets it to -1.
    private static func pump(stdin: Data, into input: inout Int32, stdout: inout Int32, stderr: inout Int32,
                             collected: inout (stdout: Data, stderr: Data), deadline: ContinuousClock.Instant) -> Bool {
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

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// Descriptors Berth opened without O_CLOEXEC must not leak into plugins (a plugin's
    /// children could hold them open for long). glibc 2.34+ has addclosefrom_np, which the Swift
    /// Glibc module does not export.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
        }
    }
}

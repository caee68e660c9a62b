import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A long-running child (a daemon such as containerd) spawned with posix_spawn and reaped by a
/// thread of its own.
///
/// Not Foundation.Process: on Linux it learns that a child exited when a socket it passes to the
/// child reaches EOF, and containerd hands that socket on to its shims, which outlive it — so a
/// stopped containerd would never be reaped while a container runs. Here the child gets only
/// stdin, stdout and stderr.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    private let condition = NSCondition()
    private var status: Int32?

    /// Starts `executable` with stdin from /dev/null and stdout and stderr appended to `logFile`.
    init(executable: String, arguments: [String], logFile: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logFile, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        try Self.closeInheritedDescriptors(&actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        sigaddset(&defaultSignals, SIGPIPE)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else {
            throw TestSupportError("posix_spawn \(executable) failed: \(String(cString: strerror(result)))")
        }
        self.pid = pid

        let child = pid
        Thread { [condition] in
            var status: Int32 = 0
            while waitpid(child, &status, 0) == -1 && errno == EINTR {}
            condition.lock()
            self.status = status
            condition.broadcast()
            condition.unlock()
        }.start()
    }

    var isRunning: Bool {
        condition.lock()
        defer { condition.unlock() }
        return status == nil
    }

    /// The raw wait status once the child has exited.
    var exitStatus: Int32? {
        condition.lock()
        defer { condition.unlock() }
        return status
    }

    /// Waits until the child exited or `seconds` passed; true when it exited.
    @discardableResult
    func waitForExit(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        while status == nil {
            if !condition.wait(until: deadline) { return status != nil }
        }
        return true
    }

    func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// SIGTERM, then SIGKILL when it has not exited within `graceSeconds`; returns once reaped.
    func terminate(graceSeconds: Double) {
        signal(SIGTERM)
        if !waitForExit(seconds: graceSeconds) {
            signal(SIGKILL)
            waitForExit(seconds: 60)
        }
    }

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// glibc 2.34+ closes every descriptor from 3 in the child; the Swift Glibc module does not
    /// export it, hence dlsym. Older systems close what /proc/self/fd lists now.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) throws {
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            let closeFrom = unsafeBitCast(symbol, to: CloseFrom.self)
            if closeFrom(&actions, 3) == 0 { return }
        }
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in descriptors.compactMap({ Int32($0) }) where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How a short-lived child process ended.
public struct HostProcessOutput: Sendable {
    /// The exit status, or nil when a signal ended it (or it could not be reaped in time).
    public var exitStatus: Int32?
    public var signal: Int32?
    public var stdout: Data
    public var stderr: Data
    /// The deadline passed: the child was killed.
    public var timedOut: Bool

    public var succeeded: Bool { exitStatus == 0 && !timedOut }
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }

    /// "status 2", "signal 9", "timed out after 30 seconds".
    public func ending(timeout: Duration) -> String {
        if timedOut { return "timed out after \(timeout)" }
        if let exitStatus { return "status \(exitStatus)" }
        return "signal \(signal ?? 0)"
    }
}

/// Berth's one runner for host tools (CNI plugins, iptables, ip, mkfs, mount, nsenter,
/// nvidia-smi): posix_spawn, stdin fed and stdout and stderr collected on a thread of its own,
/// so the blocking poll and waitpid stay off Swift's cooperative pool and waitpid names the
/// child (other reapers in the process are not disturbed). Every run has a deadline: at it the
/// child and its process group are SIGKILLed, and a child that cannot even be reaped then (stuck in the kernel, as a
/// GPU driver in trouble can leave nvidia-smi) is left to a reaper thread while the caller
/// gets its timed-out answer.
public enum HostProcess {
    public struct SpawnError: Error, CustomStringConvertible, Sendable {
        public var executable: String
        public var errno: Int32
        public var description: String { "cannot run \(executable): \(String(cString: strerror(errno)))" }
    }

    /// A run that did not exit 0, with the tool's own message.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var command: [String]
        public var output: HostProcessOutput
        public var timeout: Duration

        public var description: String {
            let detail = output.stderrText.trimmingCharacters(in: .whitespacesAndNewlines)
            return "\(command.joined(separator: " ")) failed (\(output.ending(timeout: timeout)))\(detail.isEmpty ? "" : ": \(detail)")"
        }
    }

    /// How long a killed child may take to be reaped before the caller stops waiting for it.
    static let reapGrace: Duration = .seconds(2)

    /// Runs `executable` (a path) to completion or to `timeout`. `environment` nil: this
    /// process's own. Throws only when it cannot start.
    public static func run(_ executable: String, arguments: [String] = [], environment: [String]? = nil,
                           stdin: Data = Data(), timeout: Duration) async throws -> HostProcessOutput {
        let environment = environment ?? currentEnvironment()
        return try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result {
                    try spawnAndCollect(executable, arguments: arguments, environment: environment, stdin: stdin, timeout: timeout)
                })
            }.start()
        }
    }

    /// ``run(_:arguments:environment:stdin:timeout:)`` that throws a ``Failure`` unless the
    /// child exited 0, and returns its standard output.
    @discardableResult
    public static func check(_ executable: String, _ arguments: [String], environment: [String]? = nil,
                             stdin: Data = Data(), timeout: Duration) async throws -> String {
        let output = try await run(executable, arguments: arguments, environment: environment, stdin: stdin, timeout: timeout)
        guard output.succeeded else { throw Failure(command: [executable] + arguments, output: output, timeout: timeout) }
        return output.stdoutText
    }

    /// The same for synchronous callers (test helpers): the calling thread waits for the
    /// runner's own thread.
    public static func runBlocking(_ executable: String, arguments: [String] = [], environment: [String]? = nil,
                                   stdin: Data = Data(), timeout: Duration) throws -> HostProcessOutput {
        let environment = environment ?? currentEnvironment()
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox()
        Thread {
            box.result = Result {
                try spawnAndCollect(executable, arguments: arguments, environment: environment, stdin: stdin, timeout: timeout)
            }
            done.signal()
        }.start()
        done.wait()
        return try box.result!.get()
    }

    /// Written by the runner's thread before the semaphore is signalled, read after the wait.
    private final class ResultBox: @unchecked Sendable {
        var result: Result<HostProcessOutput, any Error>?
    }

    public static func currentEnvironment() -> [String] {
        ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
    }

    private static func spawnAndCollect(_ executable: String, arguments: [String], environment: [String],
                                        stdin: Data, timeout: Duration) throws -> HostProcessOutput {
        // Runs on a thread of its own (never the caller's): a write to a child that already
        // exited raises SIGPIPE on this thread; blocked, it stays pending (discarded when the
        // thread ends) and write returns EPIPE.
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)

        var input: [Int32] = [-1, -1], output: [Int32] = [-1, -1], errors: [Int32] = [-1, -1]
        defer { for fd in input + output + errors where fd >= 0 { close(fd) } }
        guard SpawnCalls.pipe(&input) == 0, SpawnCalls.pipe(&output) == 0, SpawnCalls.pipe(&errors) == 0 else {
            throw SpawnError(executable: executable, errno: errno)
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errors[1], 2)
        SpawnCalls.closeInheritedDescriptors(&actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &pipeSignal)
        // Its own process group, so that the deadline kills what it started too (the bridge
        // plugin's iptables, a shell's pipeline), not only the child.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

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

        var collected = OutputPump.Collected()
        let deadline = ContinuousClock.now + timeout
        var timedOut = OutputPump.pump(stdin: stdin, into: &input[1], stdout: &output[0], stderr: &errors[0],
                                       collected: &collected, deadline: deadline)
        var status: Int32 = 0
        // A child that closed its output normally exits at once; one that lingers is killed at
        // the deadline like one that never answered.
        while !timedOut {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { return makeOutput(status, collected, timedOut: false) }
            if reaped == -1 && errno != EINTR { return makeOutput(status, collected, timedOut: false) }
            if ContinuousClock.now >= deadline { timedOut = true } else { usleep(200) }
        }
        // The child is not reaped yet, so its pid still names its group.
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        let graceEnd = ContinuousClock.now + reapGrace
        while ContinuousClock.now < graceEnd {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped == -1 && errno != EINTR) { return makeOutput(status, collected, timedOut: true) }
            usleep(1000)
        }
        // Unkillable for now (uninterruptible sleep): reaped whenever the kernel lets go.
        let stuck = pid
        Thread {
            var ignored: Int32 = 0
            while waitpid(stuck, &ignored, 0) == -1 && errno == EINTR {}
        }.start()
        return HostProcessOutput(exitStatus: nil, signal: nil, stdout: collected.stdout, stderr: collected.stderr, timedOut: true)
    }

    private static func makeOutput(_ status: Int32, _ collected: OutputPump.Collected, timedOut: Bool) -> HostProcessOutput {
        let signal = status & 0x7f
        return HostProcessOutput(exitStatus: signal == 0 ? (status >> 8) & 0xff : nil, signal: signal == 0 ? nil : signal,
                                 stdout: collected.stdout, stderr: collected.stderr, timedOut: timedOut)
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// berth-logger started the way containerd's shim starts it (pkg/process/io.go, NewBinaryIO):
/// the read ends of a stdout and a stderr pipe as fds 3 and 4, the write end of the wait pipe as
/// fd 5, CONTAINER_ID and CONTAINER_NAMESPACE as its only environment, stdin from /dev/null.
/// Foundation.Process cannot pass extra descriptors, hence posix_spawn.
final class LoggerProcess: @unchecked Sendable {
    let pid: pid_t
    private(set) var stdoutWriteEnd: Int32
    private(set) var stderrWriteEnd: Int32
    /// The byte the logger wrote on fd 5, nil when it closed fd 5 without one.
    let readyByte: UInt8?
    /// posix_spawn to the end of the wait pipe's read.
    let startup: Duration
    private let condition = NSCondition()
    private var status: Int32?

    /// The built binary, next to the test bundle.
    static var binary: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [bundle.path + "/berth-logger",
                          URL(fileURLWithPath: Bundle.main.bundlePath).deletingLastPathComponent().path + "/berth-logger"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    init(arguments: [String], containerID: String = "test", namespace: String = "berth-test",
         errorLog: String = "/dev/null") throws {
        Glibc.signal(SIGPIPE, SIG_IGN) // writing to a pipe of a logger that is gone must fail, not kill the tests
        let out = try Self.makePipe()
        let err = try Self.makePipe()
        let wait = try Self.makePipe()

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, errorLog, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_adddup2(&actions, out.read, 3)
        posix_spawn_file_actions_adddup2(&actions, err.read, 4)
        posix_spawn_file_actions_adddup2(&actions, wait.write, 5)
        Self.closeFrom(6, &actions)

        let argv: [UnsafeMutablePointer<CChar>?] = ([Self.binary] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let environment: [String] = ["CONTAINER_ID=\(containerID)", "CONTAINER_NAMESPACE=\(namespace)"]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { envp.forEach { free($0) } }

        let clock = ContinuousClock()
        let started = clock.now
        var pid = pid_t()
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for number in [SIGPIPE, SIGTERM, SIGINT] { sigaddset(&defaultSignals, number) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let result = posix_spawn(&pid, Self.binary, &actions, &attributes, argv, envp)
        close(out.read)
        close(err.read)
        close(wait.write)
        guard result == 0 else {
            close(out.write)
            close(err.write)
            close(wait.read)
            throw LoggerTestError("posix_spawn \(Self.binary): \(String(cString: strerror(result)))")
        }
        var byte: UInt8 = 0
        var got: Int
        repeat { got = read(wait.read, &byte, 1) } while got < 0 && errno == EINTR
        startup = clock.now - started
        close(wait.read)
        readyByte = got == 1 ? byte : nil
        self.pid = pid
        stdoutWriteEnd = out.write
        stderrWriteEnd = err.write

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

    deinit {
        closeStdout()
        closeStderr()
        if isRunning { kill(pid, SIGKILL) }
    }

    func write(stdout data: some Collection<UInt8>) throws { try write(data, to: stdoutWriteEnd) }
    func write(stderr data: some Collection<UInt8>) throws { try write(data, to: stderrWriteEnd) }
    func write(stdout text: String) throws { try write(Array(text.utf8), to: stdoutWriteEnd) }
    func write(stderr text: String) throws { try write(Array(text.utf8), to: stderrWriteEnd) }

    private func write(_ data: some Collection<UInt8>, to fd: Int32) throws {
        let bytes = Array(data)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw LoggerTestError("write to the logger's pipe: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    func closeStdout() {
        if stdoutWriteEnd >= 0 { close(stdoutWriteEnd) }
        stdoutWriteEnd = -1
    }

    func closeStderr() {
        if stderrWriteEnd >= 0 { close(stderrWriteEnd) }
        stderrWriteEnd = -1
    }

    func signal(_ number: Int32) {
        if isRunning { kill(pid, number) }
    }

    var isRunning: Bool {
        condition.lock()
        defer { condition.unlock() }
        return status == nil
    }

    /// The exit code once the logger exited within `seconds` (nil otherwise; -signal when killed).
    func waitForExit(seconds: Double = 10) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        while status == nil {
            if !condition.wait(until: deadline) { break }
        }
        guard let status else { return nil }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : -signal
    }

    /// Resident memory in KiB, from /proc/PID/status.
    var residentKiB: Int? { Self.residentKiB(pid: pid) }

    static func residentKiB(pid: pid_t) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    /// A pipe whose ends are close-on-exec and numbered 10 or more, so that dup2 onto 3, 4, 5
    /// always makes a copy (dup2 onto itself would keep close-on-exec).
    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw LoggerTestError("pipe: \(String(cString: strerror(errno)))") }
        let read = fcntl(ends[0], F_DUPFD_CLOEXEC, 10)
        let write = fcntl(ends[1], F_DUPFD_CLOEXEC, 10)
        close(ends[0])
        close(ends[1])
        guard read >= 0, write >= 0 else { throw LoggerTestError("fcntl: \(String(cString: strerror(errno)))") }
        return (read, write)
    }

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// glibc 2.34+ has posix_spawn_file_actions_addclosefrom_np (not exported to Swift, hence
    /// dlsym); otherwise close what /proc/self/fd lists above `lowest`.
    private static func closeFrom(_ lowest: Int32, _ actions: inout posix_spawn_file_actions_t) {
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            let closeFrom = unsafeBitCast(symbol, to: CloseFrom.self)
            if closeFrom(&actions, lowest) == 0 { return }
        }
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in descriptors.compactMap({ Int32($0) }) where fd >= lowest {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }
}

struct LoggerTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One raw line of a CRI log file, split without the code under test.
struct RawRecord: Equatable {
    var time: String
    var stream: String
    var tag: String
    var text: [UInt8]

    static let pattern = try! NSRegularExpression(
        pattern: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z (stdout|stderr) (F|P) "#)

    /// The records of one file; fails the caller's expectation through `throws` on a bad line.
    static func read(_ path: String) throws -> [RawRecord] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard data.isEmpty || data.last == UInt8(ascii: "\n") else {
            throw LoggerTestError("\(path) does not end with a newline")
        }
        return try data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast().map { line in
            let bytes = Array(line)
            guard bytes.count >= 40 else { throw LoggerTestError("short record in \(path): \(bytes)") }
            let header = String(decoding: bytes[0..<40], as: UTF8.self)
            guard pattern.firstMatch(in: header, range: NSRange(location: 0, length: (header as NSString).length)) != nil else {
                throw LoggerTestError("not a CRI record in \(path): \(header)")
            }
            return RawRecord(time: String(header.prefix(30)), stream: String(header.dropFirst(31).prefix(6)),
                             tag: String(header.dropFirst(38).prefix(1)), text: Array(bytes[40...]))
        }
    }

    /// Every record of a container's log folder, oldest file first.
    static func readAll(_ directory: String) throws -> [RawRecord] {
        try logFiles(directory).flatMap { try read(directory + "/" + $0) }
    }

    var textString: String { String(decoding: text, as: UTF8.self) }
}

/// container.log.N … container.log.1, container.log.
func logFiles(_ directory: String) throws -> [String] {
    let names = try FileManager.default.contentsOfDirectory(atPath: directory)
    let rotated = names.compactMap { name -> Int? in
        name.hasPrefix("container.log.") ? Int(name.dropFirst("container.log.".count)) : nil
    }.sorted(by: >).map { "container.log.\($0)" }
    return rotated + (names.contains("container.log") ? ["container.log"] : [])
}

func makeTemporaryDirectory(_ prefix: String) throws -> String {
    let base = ProcessInfo.processInfo.environment["BERTH_TEST_SCRATCH"] ?? NSTemporaryDirectory()
    try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
    guard let result = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw LoggerTestError("mkdtemp failed: \(String(cString: strerror(errno)))")
    }
    return String(cString: result)
}

/// A value shared between a test and the tasks it starts.
final class Locked<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.withLock { value } }
    func update<T>(_ body: (inout Value) -> T) -> T { lock.withLock { body(&value) } }
}

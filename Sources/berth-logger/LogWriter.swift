#if canImport(Glibc)
import Glibc
#endif

enum StreamName {
    case stdout, stderr
}

/// Appends CRI log records to `<dir>/container.log` through one bounded buffer, rotating by size.
///
/// A record is `<timestamp> <stdout|stderr> <F|P> <text>\n` with an RFC 3339 UTC timestamp with
/// nine fraction digits. container.log never grows past `maxBytes` unless one record alone is
/// bigger: before a record that would cross the limit the file is flushed, closed and renamed to
/// container.log.1 (.1 to .2 and so on, at most `maxFiles` kept), and a fresh container.log is
/// created. Nothing is written to a file after it was renamed, which is what lets a reader that
/// follows the log switch files without losing or repeating lines.
///
/// Write errors (a full disk, a deleted folder) never stop the logger: the data is dropped, the
/// file is reopened at most once a second, and the container's pipes keep being drained.
final class LogWriter {
    static let headerLength = 40 // 30 timestamp + " stdout F "

    let directory: String
    let path: String
    let maxBytes: Int64
    let maxFiles: Int

    private var fd: Int32 = -1
    private var size: Int64 = 0
    private let buffer: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    private var used = 0
    private var nextOpenAttempt: Int64 = 0
    private var lastError = ""

    /// `capacity` must hold the longest record (header + max line + newline).
    init(options: Options, capacity: Int) {
        directory = options.directory
        path = options.directory + "/container.log"
        maxBytes = options.maxBytes
        maxFiles = options.maxFiles
        self.capacity = capacity
        buffer = .allocate(capacity: capacity)
    }

    deinit {
        buffer.deallocate()
    }

    var isOpen: Bool { fd >= 0 }

    /// Creates the folder and opens container.log for appending (a restarted task appends to
    /// the log of its earlier run).
    @discardableResult
    func open() -> Bool {
        nextOpenAttempt = monotonicNanoseconds() + 1_000_000_000
        makeDirectories(directory)
        let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            report("cannot open \(path): \(errorText(errno))")
            return false
        }
        var info = stat()
        size = fstat(descriptor, &info) == 0 ? Int64(info.st_size) : 0
        fd = descriptor
        return true
    }

    /// Buffers one record; `first` and `second` together are its text.
    func append(time: Timestamp, stream: StreamName, partial: Bool,
                _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) {
        let length = Self.headerLength + first.count + second.count + 1
        if fd < 0 {
            guard monotonicNanoseconds() >= nextOpenAttempt, open() else { return }
        }
        if size > 0 && size + Int64(length) > maxBytes {
            rotate()
            if fd < 0 { return }
        }
        if used + length > capacity { flush() }
        precondition(length <= capacity, "record longer than the write buffer")
        var cursor = buffer + used
        time.write(to: cursor)
        cursor += 30
        let header: StaticString = stream == .stdout
            ? (partial ? " stdout P " : " stdout F ")
            : (partial ? " stderr P " : " stderr F ")
        cursor.update(from: header.utf8Start, count: 10)
        cursor += 10
        if let base = first.baseAddress, first.count > 0 {
            cursor.update(from: base.assumingMemoryBound(to: UInt8.self), count: first.count)
            cursor += first.count
        }
        if let base = second.baseAddress, second.count > 0 {
            cursor.update(from: base.assumingMemoryBound(to: UInt8.self), count: second.count)
            cursor += second.count
        }
        cursor.pointee = UInt8(ascii: "\n")
        used += length
        size += Int64(length)
    }

    /// Writes out the buffer; on failure the buffered records are dropped and the file closed.
    func flush() {
        defer { used = 0 }
        guard used > 0, fd >= 0 else { return }
        var offset = 0
        while offset < used {
            let written = write(fd, buffer + offset, used - offset)
            if written < 0 {
                if errno == EINTR { continue }
                report("cannot write \(path): \(errorText(errno))")
                closeFile()
                return
            }
            offset += written
        }
    }

    func close() {
        flush()
        closeFile()
    }

    private func closeFile() {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
        nextOpenAttempt = monotonicNanoseconds() + 1_000_000_000
    }

    /// container.log → .1 → .2 … (the oldest beyond maxFiles is overwritten), then a new file.
    private func rotate() {
        flush()
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
        if maxFiles == 0 {
            unlink(path)
        } else {
            unlink("\(path).\(maxFiles + 1)") // left by a run with a bigger max-files
            var index = maxFiles - 1
            while index >= 1 {
                rename("\(path).\(index)", "\(path).\(index + 1)")
                index -= 1
            }
            if rename(path, path + ".1") != 0 && errno != ENOENT {
                report("cannot rotate \(path): \(errorText(errno))")
            }
        }
        open()
    }

    private func makeDirectories(_ folder: String) {
        var prefix = ""
        for component in folder.split(separator: "/") {
            prefix += "/" + component
            // 0700: container output is the tenant's; files are 0640 inside.
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                report("cannot create \(prefix): \(errorText(errno))")
                return
            }
        }
    }

    /// One line on stderr per distinct error (under the shim stderr is /dev/null).
    private func report(_ message: String) {
        guard message != lastError else { return }
        lastError = message
        writeError(message)
    }
}

func writeError(_ message: String) {
    var line = "berth-logger: " + message + "\n"
    line.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

func errorText(_ code: Int32) -> String {
    String(cString: strerror(code))
}

func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// The wall-clock time of a read, formatted once as `2006-01-02T15:04:05.000000000Z`.
struct Timestamp {
    private var bytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0) // 32 bytes, 30 used

    private static nonisolated(unsafe) var cachedSecond = Int.min
    private static nonisolated(unsafe) var cachedPrefix = [UInt8](repeating: 0, count: 20)

    static func now() -> Timestamp {
        var clock = timespec()
        clock_gettime(CLOCK_REALTIME, &clock)
        return Timestamp(seconds: clock.tv_sec, nanoseconds: clock.tv_nsec)
    }

    init(seconds: Int, nanoseconds: Int) {
        if seconds != Self.cachedSecond {
            var time = seconds
            var parts = tm()
            gmtime_r(&time, &parts)
            var prefix = [UInt8]()
            prefix.reserveCapacity(20)
            func put(_ value: Int, digits: Int) {
                var divisor = 1
                for _ in 1..<digits { divisor *= 10 }
                var rest = value
                while divisor > 0 {
                    prefix.append(UInt8(ascii: "0") + UInt8(rest / divisor))
                    rest %= divisor
                    divisor /= 10
                }
            }
            put(Int(parts.tm_year) + 1900, digits: 4)
            prefix.append(UInt8(ascii: "-"))
            put(Int(parts.tm_mon) + 1, digits: 2)
            prefix.append(UInt8(ascii: "-"))
            put(Int(parts.tm_mday), digits: 2)
            prefix.append(UInt8(ascii: "T"))
            put(Int(parts.tm_hour), digits: 2)
            prefix.append(UInt8(ascii: ":"))
            put(Int(parts.tm_min), digits: 2)
            prefix.append(UInt8(ascii: ":"))
            put(Int(parts.tm_sec), digits: 2)
            prefix.append(UInt8(ascii: "."))
            Self.cachedPrefix = prefix
            Self.cachedSecond = seconds
        }
        withUnsafeMutableBytes(of: &bytes) { raw in
            let out = raw.bindMemory(to: UInt8.self)
            for index in 0..<20 { out[index] = Self.cachedPrefix[index] }
            var rest = nanoseconds
            var index = 28
            while index >= 20 {
                out[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                index -= 1
            }
            out[29] = UInt8(ascii: "Z")
        }
    }

    func write(to destination: UnsafeMutablePointer<UInt8>) {
        withUnsafeBytes(of: bytes) { raw in
            destination.update(from: raw.baseAddress!.assumingMemoryBound(to: UInt8.self), count: 30)
        }
    }
}

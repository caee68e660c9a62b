#if canImport(Glibc)
import Glibc
#endif

/// One of the container's output pipes, cut into CRI records.
///
/// A line ending in `\n` becomes one `F` record (without the newline). A line longer than
/// `maxLine` bytes becomes `P` records of exactly `maxLine` bytes followed by an `F` record with
/// the rest; bytes left without a newline at end of stream become a final `P` record. Bytes are
/// copied as they are: invalid UTF-8 is the reader's business. At most `maxLine` bytes of an
/// unfinished line are held.
final class StreamInput {
    let fd: Int32
    let name: StreamName
    let maxLine: Int
    private(set) var isOpen = true
    private let pending: UnsafeMutablePointer<UInt8>
    private var pendingCount = 0

    init(fd: Int32, name: StreamName, maxLine: Int) {
        self.fd = fd
        self.name = name
        self.maxLine = maxLine
        pending = .allocate(capacity: maxLine)
    }

    deinit {
        pending.deallocate()
    }

    /// Cuts `data` into records.
    func consume(_ data: UnsafeRawBufferPointer, time: Timestamp, writer: LogWriter) {
        guard let base = data.baseAddress, data.count > 0 else { return }
        let bytes = base.assumingMemoryBound(to: UInt8.self)
        let count = data.count
        var start = 0
        while start < count {
            let newline = memchr(bytes + start, Int32(UInt8(ascii: "\n")), count - start)
            let end = newline.map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) - bytes } ?? count
            var segment = start
            // Full pieces of maxLine bytes while the line is longer than that.
            while pendingCount + (end - segment) > maxLine {
                let take = maxLine - pendingCount
                writer.append(time: time, stream: name, partial: true,
                              UnsafeRawBufferPointer(start: pending, count: pendingCount),
                              UnsafeRawBufferPointer(start: bytes + segment, count: take))
                pendingCount = 0
                segment += take
            }
            if newline != nil {
                writer.append(time: time, stream: name, partial: false,
                              UnsafeRawBufferPointer(start: pending, count: pendingCount),
                              UnsafeRawBufferPointer(start: bytes + segment, count: end - segment))
                pendingCount = 0
                start = end + 1
            } else {
                (pending + pendingCount).update(from: bytes + segment, count: end - segment)
                pendingCount += end - segment
                start = count
            }
        }
    }

    /// End of stream: what is left without a newline becomes a P record.
    func finish(time: Timestamp, writer: LogWriter) {
        guard isOpen else { return }
        isOpen = false
        if pendingCount > 0 {
            writer.append(time: time, stream: name, partial: true,
                          UnsafeRawBufferPointer(start: pending, count: pendingCount),
                          UnsafeRawBufferPointer(start: nil, count: 0))
            pendingCount = 0
        }
        _ = close(fd)
    }
}

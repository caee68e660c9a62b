// berth-logger: containerd's "binary" logging driver for Berth.
//
// The task's stdout/stderr URI is `binary:///path/to/berth-logger?dir=D&max-bytes=N&max-files=M`.
// The runc shim (containerd pkg/process/io.go, NewBinaryIO) starts this binary once per task with
//   fd 3  the read end of the container's stdout pipe
//   fd 4  the read end of the container's stderr pipe
//   fd 5  the write end of a "wait" pipe: the shim blocks reading it until the logger writes a
//         byte or closes it, and only then creates the container
//   env   CONTAINER_ID, CONTAINER_NAMESPACE (the only variables it gets)
//   argv  the URI query as `key value` pairs in Go map order (random)
// stdin/stdout/stderr are /dev/null. The shim keeps the pipes' write ends until the task is
// deleted; then it closes them, sends SIGTERM and kills the logger 12 s later if it is still
// there. So: read both pipes until both reach EOF (or, after SIGTERM, until they go quiet), write
// CRI records to <dir>/container.log with size-based rotation, and exit 0.
//
// Glibc only (no Foundation): it runs next to every container, so it must start in a few
// milliseconds and stay small. Memory is bounded: a 64 KiB read buffer, a 16 KiB partial-line
// buffer per stream and a 64 KiB write buffer.

#if canImport(Glibc)
import Glibc
#endif

/// Lines longer than this are cut into P records (the kubelet/containerd CRI value).
let maxLineBytes = 16 * 1024
/// After SIGTERM: exit once the pipes have had nothing for this long, or at the latest after
/// `drainLimit` (the shim kills at 12 s).
let drainQuietMilliseconds: Int32 = 200
let drainLimitNanoseconds: Int64 = 8_000_000_000

/// The write end of the self-pipe the SIGTERM handler writes to (set before the handler is
/// installed; a plain global of main.swift, so the handler reads it without lazy initialisation).
nonisolated(unsafe) var signalPipeWriteEnd: Int32 = -1

let options: Options
switch Options.parse(Array(CommandLine.arguments.dropFirst())) {
case .success(let parsed):
    options = parsed
case .failure(.message(let message)):
    writeError(message)
    writeError(Options.usage)
    exit(2)
}

/// True when `fd` is an open pipe or FIFO (so a run by hand never writes into some other file).
func isPipe(_ fd: Int32) -> Bool {
    var info = stat()
    return fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFIFO
}

signal(SIGPIPE, SIG_IGN)
var signalPipe: [Int32] = [-1, -1]
if pipe(&signalPipe) == 0 {
    for fd in signalPipe {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(fd, F_SETFL, O_NONBLOCK)
    }
    signalPipeWriteEnd = signalPipe[1]
    let handler: @convention(c) (Int32) -> Void = { _ in
        let saved = errno
        var byte: UInt8 = 1
        _ = write(signalPipeWriteEnd, &byte, 1)
        errno = saved
    }
    signal(SIGTERM, handler)
    signal(SIGINT, handler)
    var unblock = sigset_t()
    sigemptyset(&unblock)
    sigaddset(&unblock, SIGTERM)
    sigaddset(&unblock, SIGINT)
    sigprocmask(SIG_UNBLOCK, &unblock, nil)
}

let writer = LogWriter(options: options, capacity: 64 * 1024)
writer.open()

// Ready: the shim may now start the container. (Newer logging.Run writes a byte and closes;
// containerd 1.6 only needs the read to return, so either works with every version.)
if isPipe(5) {
    var ready: UInt8 = 0
    _ = write(5, &ready, 1)
    _ = close(5)
}

let streams = [StreamInput(fd: 3, name: .stdout, maxLine: maxLineBytes),
               StreamInput(fd: 4, name: .stderr, maxLine: maxLineBytes)]
let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
var drainDeadline: Int64? = nil
var pollSet = [pollfd](repeating: pollfd(), count: 3)
var owners: [StreamInput?] = [nil, nil, nil]

while streams.contains(where: \.isOpen) {
    var count = 0
    owners[0] = nil
    owners[1] = nil
    owners[2] = nil
    for stream in streams where stream.isOpen {
        pollSet[count] = pollfd(fd: stream.fd, events: Int16(POLLIN), revents: 0)
        owners[count] = stream
        count += 1
    }
    if drainDeadline == nil && signalPipe[0] >= 0 {
        pollSet[count] = pollfd(fd: signalPipe[0], events: Int16(POLLIN), revents: 0)
        count += 1
    }
    let ready = poll(&pollSet, nfds_t(count), drainDeadline == nil ? -1 : drainQuietMilliseconds)
    if ready < 0 {
        if errno == EINTR { continue }
        writeError("poll: \(errorText(errno))")
        break
    }
    if ready == 0 { break } // draining after SIGTERM and the pipes went quiet
    let time = Timestamp.now()
    for index in 0..<count {
        let events = Int32(pollSet[index].revents)
        guard events != 0 else { continue }
        guard let stream = owners[index] else {
            // SIGTERM (or SIGINT): the shim closed its ends and wants us gone; finish what the
            // pipes still hold.
            var sink: UInt8 = 0
            while read(signalPipe[0], &sink, 1) > 0 {}
            drainDeadline = monotonicNanoseconds() + drainLimitNanoseconds
            continue
        }
        if events & Int32(POLLNVAL) != 0 {
            stream.finish(time: time, writer: writer)
            continue
        }
        let got = read(stream.fd, readBuffer.baseAddress, readBuffer.count)
        if got > 0 {
            stream.consume(UnsafeRawBufferPointer(rebasing: readBuffer[0..<got]), time: time, writer: writer)
        } else if got == 0 || (errno != EINTR && errno != EAGAIN) {
            stream.finish(time: time, writer: writer)
        }
    }
    writer.flush()
    if let deadline = drainDeadline, monotonicNanoseconds() >= deadline { break }
}

let end = Timestamp.now()
for stream in streams { stream.finish(time: end, writer: writer) }
writer.close()
exit(0)

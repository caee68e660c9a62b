import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Containers' logs: the URI that makes containerd's shim run berth-logger for a task, and
/// reading what it wrote (tail, follow across rotations), and removing it.
public struct ContainerLogs: Sendable {
    public let configuration: LogConfiguration
    /// How often `follow` looks for new lines.
    var pollInterval: Duration = .milliseconds(100)
    /// A pending partial line is emitted by `follow` after this long without its end.
    var partialLineTimeout: Duration = .seconds(1)

    public init(configuration: LogConfiguration) {
        self.configuration = configuration
    }

    /// The stdout/stderr URI to give containerd's Tasks.Create for this container (same URI for
    /// both): `binary://<loggerPath>?dir=<folder>&max-bytes=N&max-files=M`.
    public func uri(containerID: String) -> String {
        let query = [
            ("dir", directory(containerID: containerID)),
            ("max-bytes", String(configuration.maxFileBytes)),
            ("max-files", String(configuration.maxFiles)),
        ]
        return "binary://" + Self.escape(configuration.loggerPath, keeping: "/") + "?"
            + query.map { Self.escape($0.0, keeping: "") + "=" + Self.escape($0.1, keeping: "/") }.joined(separator: "&")
    }

    public func directory(containerID: String) -> String {
        configuration.directory + "/" + containerID
    }

    /// The last `lines` lines across the rotated files, oldest first. No folder yet: no lines.
    public func tail(containerID: String, lines: Int) throws -> [LogLine] {
        let folder = try checkedDirectory(containerID)
        guard lines > 0, let files = LogFileChain.open(directory: folder), !files.isEmpty else { return [] }
        return try Self.tail(files: files, lines: lines, holdUnfinished: false).lines
    }

    /// The last `lines` lines, then every new line as it is written, across rotations, until the
    /// consumer stops iterating (or the folder is removed). Files are polled every 100 ms; a
    /// file that was rotated away is read to its end before the next one, so no line is lost or
    /// repeated (unless more rotations than maxFiles happen between two polls). Waits for the
    /// log to appear when it does not exist yet.
    public func follow(containerID: String, tail lines: Int) -> AsyncThrowingStream<LogLine, Error> {
        follow(containerID: containerID, tail: lines, until: nil)
    }

    /// As `follow(containerID:tail:)`, and also ends (normally, after the lines already read)
    /// as soon as `ended` finishes: its reader stops polling then, even when no line comes.
    /// For whoever knows when to stop that the log files cannot tell: a client that went away,
    /// a container that was deleted.
    public func follow(containerID: String, tail lines: Int, until ended: AsyncStream<Void>?)
        -> AsyncThrowingStream<LogLine, Error> {
        let (stream, continuation) = AsyncThrowingStream<LogLine, Error>.makeStream(bufferingPolicy: .bufferingOldest(1024))
        let logs = self
        let task = Task {
            do {
                let folder = try logs.checkedDirectory(containerID)
                try await logs.follow(folder: folder, tail: lines) { line in
                    // bufferingOldest drops the newest element when full: wait and offer it again,
                    // so a slow consumer slows the reader instead of losing lines.
                    while true {
                        switch continuation.yield(line) {
                        case .enqueued: return
                        case .dropped: try await Task.sleep(for: .milliseconds(10))
                        case .terminated: throw CancellationError()
                        @unknown default: return
                        }
                    }
                }
                continuation.finish()
            } catch is CancellationError {
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        let watcher = ended.map { ended in
            Task {
                for await _ in ended {}
                continuation.finish()
            }
        }
        continuation.onTermination = { _ in
            task.cancel()
            watcher?.cancel()
        }
        return stream
    }

    /// Deletes the container's log files (on container delete).
    public func remove(containerID: String) throws {
        let folder = try checkedDirectory(containerID)
        do {
            try FileManager.default.removeItem(atPath: folder)
        } catch let error as CocoaError where error.code == .fileNoSuchFile {
            return
        } catch {
            if !FileManager.default.fileExists(atPath: folder) { return }
            throw LogError("cannot remove \(folder): \(error)")
        }
    }

    // MARK: - Implementation

    private func checkedDirectory(_ containerID: String) throws -> String {
        guard !containerID.isEmpty, containerID != ".", containerID != "..",
              !containerID.contains("/"), !containerID.contains("\0") else {
            throw LogError.invalidContainerID(containerID)
        }
        return directory(containerID: containerID)
    }

    private static func escape(_ text: String, keeping extra: String) -> String {
        var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        allowed.insert(charactersIn: extra)
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    struct TailResult {
        var lines: [LogLine]
        /// Lines whose end was not written yet (only with holdUnfinished), oldest first.
        var unfinished: [(stream: LogLine.Stream, time: Date, bytes: [UInt8])]
        /// Where complete records end in the newest file.
        var end: Int64
    }

    /// Once the requested lines are there, earlier pieces of their lines are looked for at most
    /// this far back (a stream that wrote nothing else for a long time would otherwise make
    /// every tail read all files).
    static let pieceSearchLimit: Int64 = 1 << 20

    static func tail(files: [OpenLogFile], lines: Int, holdUnfinished: Bool) throws -> TailResult {
        guard let newest = files.last else { return TailResult(lines: [], unfinished: [], end: 0) }
        let end = try newest.completeEnd(before: newest.size)
        guard lines > 0 else { return TailResult(lines: [], unfinished: [], end: end) }
        var ends: [(file: OpenLogFile, end: Int64)] = [(newest, end)]
        for file in files.dropLast().reversed() {
            ends.append((file, try file.completeEnd(before: file.size)))
        }
        var reader = BackwardRecordReader(files: ends)
        var assembler = ReverseLineAssembler(limit: lines)
        var fullAt: Int64?
        while !assembler.isComplete, let raw = try reader.previous() {
            if let record = LogRecord(raw) { assembler.add(record) }
            if assembler.isFull {
                if fullAt == nil { fullAt = reader.bytesRead }
                if reader.bytesRead - fullAt! > pieceSearchLimit { break }
            }
        }
        assembler.finish()
        var result = TailResult(lines: [], unfinished: [], end: end)
        for building in assembler.lines.reversed() {
            if holdUnfinished && building.unfinished {
                result.unfinished.append((building.stream, building.time, building.bytes))
            } else {
                result.lines.append(building.line)
            }
        }
        return result
    }

    private func follow(folder: String, tail lines: Int,
                        emit: (LogLine) async throws -> Void) async throws {
        // Wait for the first file.
        var files: [OpenLogFile] = []
        while true {
            try Task.checkCancellation()
            if let opened = LogFileChain.open(directory: folder), !opened.isEmpty {
                files = opened
                break
            }
            try await Task.sleep(for: pollInterval)
        }
        let start = try Self.tail(files: files, lines: lines, holdUnfinished: true)
        var assembler = ForwardLineAssembler()
        for piece in start.unfinished { assembler.seed(stream: piece.stream, time: piece.time, bytes: piece.bytes) }
        for line in start.lines { try await emit(line) }

        var current = files.last!
        files = []
        var offset = start.end
        var carry: [UInt8] = []
        var lastData = ContinuousClock.now
        let currentPath = folder + "/" + LogFileChain.current

        /// Reads `file` from `offset` to its current end, emitting complete records.
        func readToEnd(_ file: OpenLogFile) async throws -> Bool {
            var gotAny = false
            while true {
                try Task.checkCancellation()
                let block = try file.read(at: offset, count: 64 * 1024)
                if block.isEmpty { return gotAny }
                gotAny = true
                offset += Int64(block.count)
                carry += block
                var lineStart = carry.startIndex
                while let newline = carry[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
                    if let record = LogRecord(carry[lineStart..<newline]), let line = assembler.add(record) {
                        try await emit(line)
                    }
                    lineStart = newline + 1
                }
                carry.removeSubrange(..<lineStart)
                if carry.count > 4 << 20 { carry.removeAll() } // not a log this logger wrote
            }
        }

        while true {
            if try await readToEnd(current) {
                lastData = .now
                continue
            }
            var info = stat()
            let rotated: Bool
            if stat(currentPath, &info) == 0 {
                rotated = FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)) != current.identity
            } else if errno == ENOENT {
                // Between the rename and the new file, or the whole folder was removed.
                var folderInfo = stat()
                if stat(folder, &folderInfo) != 0 { return }
                rotated = true
            } else {
                throw LogError.system("cannot stat", currentPath)
            }
            if rotated, let next = try nextFile(after: current, in: folder) {
                // Everything the logger wrote to the old file came before the rename that the
                // new file's existence proves: one more read gets the rest.
                if try await readToEnd(current) { lastData = .now }
                current = next
                offset = 0
                carry = []
                continue
            }
            if assembler.hasPending && ContinuousClock.now - lastData >= partialLineTimeout {
                for line in assembler.flush() { try await emit(line) }
            }
            try await Task.sleep(for: pollInterval)
        }
    }

    /// The file that comes after `file` in the chain: the next newer one, or the oldest left when
    /// `file` was rotated out altogether. nil while the chain has nothing newer (a rotation in
    /// progress).
    private func nextFile(after file: OpenLogFile, in folder: String) throws -> OpenLogFile? {
        guard let chain = LogFileChain.open(directory: folder), !chain.isEmpty else { return nil }
        if let index = chain.firstIndex(where: { $0.identity == file.identity }) {
            return index + 1 < chain.count ? chain[index + 1] : nil
        }
        return chain[0]
    }
}

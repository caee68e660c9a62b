import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A log file opened for reading, known by its inode: it stays the same file while the logger
/// renames it during rotation.
final class OpenLogFile {
    let fd: Int32
    let device: UInt64
    let inode: UInt64
    let path: String

    init?(path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            return nil
        }
        self.fd = fd
        self.path = path
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    deinit {
        close(fd)
    }

    var identity: FileIdentity { FileIdentity(device: device, inode: inode) }

    var size: Int64 {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int64(info.st_size) : 0
    }

    /// Up to `count` bytes at `offset` (fewer at end of file).
    func read(at offset: Int64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = bytes.withUnsafeMutableBytes { buffer in
                pread(fd, buffer.baseAddress! + filled, count - filled, off_t(offset) + off_t(filled))
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw LogError.system("cannot read", path)
            }
            if got == 0 { break }
            filled += got
        }
        bytes.removeLast(count - filled)
        return bytes
    }

    /// The offset just past the last newline before `end` (0 when there is none): what a reader
    /// may take as complete records while the logger may be in the middle of a write.
    func completeEnd(before end: Int64) throws -> Int64 {
        var blockEnd = end
        while blockEnd > 0 {
            let blockStart = max(0, blockEnd - 64 * 1024)
            let block = try read(at: blockStart, count: Int(blockEnd - blockStart))
            if let newline = block.lastIndex(of: UInt8(ascii: "\n")) {
                return blockStart + Int64(newline) + 1
            }
            blockEnd = blockStart
        }
        return 0
    }
}

struct FileIdentity: Hashable {
    var device: UInt64
    var inode: UInt64
}

/// The files of one container's log, oldest first: container.log.N … container.log.1, container.log.
enum LogFileChain {
    static let current = "container.log"

    /// The file names present, oldest first; nil when the folder does not exist.
    static func names(in directory: String) -> [String]? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        let prefix = current + "."
        let rotated = entries.compactMap { name -> (Int, String)? in
            guard name.hasPrefix(prefix), let number = Int(name.dropFirst(prefix.count)), number > 0 else { return nil }
            return (number, name)
        }
        var names = rotated.sorted { $0.0 > $1.0 }.map(\.1)
        if entries.contains(current) { names.append(current) }
        return names
    }

    private static func identities(_ names: [String], in directory: String) -> [FileIdentity?] {
        names.map { name in
            var info = stat()
            guard stat(directory + "/" + name, &info) == 0 else { return nil }
            return FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        }
    }

    /// Opens every file of the chain, oldest first, as one consistent picture: the listing is
    /// taken again until no rotation happened while the files were being opened. nil when the
    /// folder does not exist.
    static func open(directory: String) -> [OpenLogFile]? {
        var opened: [OpenLogFile] = []
        for _ in 0..<20 {
            guard let names = names(in: directory) else { return nil }
            let before = identities(names, in: directory)
            opened = names.compactMap { OpenLogFile(path: directory + "/" + $0) }
            guard let namesAfter = Self.names(in: directory) else { return nil }
            let after = identities(namesAfter, in: directory)
            if names == namesAfter, before == after, opened.map(\.identity) == before.compactMap({ $0 }) {
                return opened
            }
            usleep(1000)
        }
        return opened
    }
}

/// The records of a chain of files read from the newest backwards, a 64 KiB block at a time.
struct BackwardRecordReader {
    /// Newest first, each with the offset its complete records end at.
    private var files: [(file: OpenLogFile, end: Int64)]
    private var fileIndex = 0
    /// Bytes [chunkStart, chunkStart + lineEnd) of the current file not yet returned, the last
    /// of them being the end of a record (its newline excluded).
    private var chunk: [UInt8] = []
    private var chunkStart: Int64 = 0
    private var lineEnd = 0
    private var started = false
    /// Bytes handed out so far.
    private(set) var bytesRead: Int64 = 0

    init(files: [(file: OpenLogFile, end: Int64)]) {
        self.files = files
    }

    /// The previous line (without its newline), or nil at the start of the oldest file.
    mutating func previous() throws -> ArraySlice<UInt8>? {
        while fileIndex < files.count {
            if !started {
                let end = files[fileIndex].end
                started = true
                chunk = []
                lineEnd = 0
                if end <= 0 {
                    nextFile()
                    continue
                }
                chunkStart = end - 1 // drop the newline of the last record
            }
            if let newline = chunk[0..<lineEnd].lastIndex(of: UInt8(ascii: "\n")) {
                let line = chunk[(newline + 1)..<lineEnd]
                lineEnd = newline
                bytesRead += Int64(line.count + 1)
                return line
            }
            if chunkStart > 0 {
                let blockStart = max(0, chunkStart - 64 * 1024)
                let block = try files[fileIndex].file.read(at: blockStart, count: Int(chunkStart - blockStart))
                guard block.count == Int(chunkStart - blockStart) else {
                    throw LogError("\(files[fileIndex].file.path) shrank while it was being read")
                }
                chunk = block + chunk[0..<lineEnd]
                lineEnd += block.count
                chunkStart = blockStart
                continue
            }
            let line = chunk[0..<lineEnd]
            nextFile()
            bytesRead += Int64(line.count + 1)
            return line
        }
        return nil
    }

    private mutating func nextFile() {
        fileIndex += 1
        started = false
        chunk = []
        lineEnd = 0
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads and writes files inside a volume for the API, as host root, without ever leaving it:
/// a container that mounts the volume read-write may have left symbolic links, FIFOs or device
/// nodes anywhere in it. Every component is opened relative to its parent with O_NOFOLLOW, so a
/// link is refused rather than followed; `..` never gets this far (`components`).
public struct VolumeFiles: Sendable {
    public let root: String
    let ownerID: UInt32

    /// The path's components: relative, no empty, `.` or `..` component, no NUL, at most 4096
    /// bytes and 255 per component.
    public static func components(_ path: String) throws(VolumeFileError) -> [String] {
        guard !path.isEmpty, path.utf8.count <= 4096, !path.contains("\0"), !path.hasPrefix("/") else {
            throw .invalidPath("must be a relative path inside the volume, such as models/model.bin")
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for part in parts {
            if part.isEmpty || part == "." || part == ".." { throw .invalidPath("must not contain empty, . or .. components") }
            if part.utf8.count > 255 { throw .invalidPath("each component must be at most 255 bytes") }
        }
        return parts
    }

    /// The folder holding `components`' last one, opened (and made, 0755, when `create`) one
    /// level at a time. The caller closes it.
    private func parent(_ components: [String], create: Bool) throws(VolumeFileError) -> Int32 {
        var fd = Glibc.open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw .io("the volume is not available", errno) }
        for name in components.dropLast() {
            var next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0, errno == ENOENT, create {
                if mkdirat(fd, name, 0o755) == 0 || errno == EEXIST {
                    next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    if next >= 0 { fchown(next, ownerID, ownerID) }
                }
            }
            let failure = errno
            close(fd)
            guard next >= 0 else { throw Self.error(failure, name) }
            fd = next
        }
        return fd
    }

    static func error(_ code: Int32, _ name: String) -> VolumeFileError {
        switch code {
        case ENOENT: .notFound
        case ELOOP, ENOTDIR: .notAFile("\"\(name)\" is a symbolic link or not a folder")
        case ENOSPC, EDQUOT: .full
        case EISDIR: .notAFile("\"\(name)\" is a folder")
        default: .io("\"\(name)\"", code)
        }
    }

    /// Starts writing `path`: the bytes go to a hidden file beside it, which `commit` renames
    /// into place, so readers see the old file or the whole new one, never a part.
    public func upload(_ path: String) throws(VolumeFileError) -> VolumeUpload {
        let components = try Self.components(path)
        let directory = try parent(components, create: true)
        let name = components.last!
        let scratch = ".berth-upload-\(UUID().uuidString.lowercased())"
        let fd = openat(directory, scratch, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let failure = errno
            close(directory)
            throw Self.error(failure, name)
        }
        return VolumeUpload(directory: directory, fd: fd, scratch: scratch, name: name, ownerID: ownerID)
    }

    /// Opens `path` for reading: a regular file only (a FIFO would block, a device is not data).
    public func read(_ path: String) throws(VolumeFileError) -> (fd: Int32, size: Int64) {
        let components = try Self.components(path)
        let directory = try parent(components, create: false)
        defer { close(directory) }
        let fd = openat(directory, components.last!, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw Self.error(errno, components.last!) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw .notAFile("\"\(components.last!)\" is not a regular file")
        }
        return (fd, Int64(info.st_size))
    }
}

/// A file being written into a volume; exactly one of `commit` and `abort` ends it.
public final class VolumeUpload: @unchecked Sendable {
    private let directory: Int32
    private let fd: Int32
    private let scratch: String
    private let name: String
    private let ownerID: UInt32
    public private(set) var written: Int64 = 0

    init(directory: Int32, fd: Int32, scratch: String, name: String, ownerID: UInt32) {
        self.directory = directory
        self.fd = fd
        self.scratch = scratch
        self.name = name
        self.ownerID = ownerID
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(VolumeFileError) {
        var offset = 0
        while offset < bytes.count {
            let count = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if count < 0 {
                if errno == EINTR { continue }
                throw VolumeFiles.error(errno, name)
            }
            offset += count
        }
        written += Int64(bytes.count)
    }

    /// Flushes the file to disk and puts it in place, mode 0644, owned by the containers' root.
    /// True when it replaced a file of that name.
    @discardableResult
    public func commit() throws(VolumeFileError) -> Bool {
        defer { finish() }
        guard fsync(fd) == 0 else { let failure = errno; unlinkat(directory, scratch, 0); throw VolumeFiles.error(failure, name) }
        fchown(fd, ownerID, ownerID)
        fchmod(fd, 0o644)
        var existing = stat()
        let replaced = fstatat(directory, name, &existing, AT_SYMLINK_NOFOLLOW) == 0
        guard renameat(directory, scratch, directory, name) == 0 else {
            let failure = errno
            unlinkat(directory, scratch, 0)
            throw VolumeFiles.error(failure, name)
        }
        fsync(directory)
        return replaced
    }

    /// Drops what was written; the old file, if any, stays.
    public func abort() {
        guard !finished else { return }
        unlinkat(directory, scratch, 0)
        finish()
    }

    private var finished = false
    private func finish() {
        guard !finished else { return }
        finished = true
        close(fd)
        close(directory)
    }
}

public enum VolumeFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidPath(String)
    case notFound
    case notAFile(String)
    /// The volume has no room left for the file.
    case full
    case io(String, Int32)

    public var description: String {
        switch self {
        case .invalidPath(let why): "path \(why)"
        case .notFound: "no such file in the volume"
        case .notAFile(let why): why
        case .full: "the volume is full"
        case .io(let what, let code): "\(what): \(String(cString: strerror(code)))"
        }
    }
}

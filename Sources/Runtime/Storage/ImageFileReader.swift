import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a file of an image was refused: it exists in the image but is not something berthd will
/// read on the host. The text names the path inside the image only, never a host path.
public enum ImageFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A directory, FIFO, socket or device node (or a link resolving to one).
    case notRegularFile(path: String, kind: String)
    case tooLarge(path: String, limit: Int)
    /// More than `ImageFileReader.maxLinks` symbolic links, or too many path steps.
    case tooManyLinks(path: String)
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .notRegularFile(let path, let kind):
            return "the image's \(path) is not a regular file inside the image (it is \(kind))"
        case .tooLarge(let path, let limit):
            return "the image's \(path) is larger than \(limit) bytes"
        case .tooManyLinks(let path):
            return "the image's \(path) does not resolve inside the image (too many symbolic links)"
        case .unreadable(let path, let reason):
            return "the image's \(path) cannot be read: \(reason)"
        }
    }
}

/// Reads a file of an image on the host (berthd is root) exactly as the container would see it,
/// and nothing else. The image is a stack of overlay lower directories, topmost first; a path is
/// resolved one component at a time across them as overlayfs merges them: the topmost layer
/// that has an entry wins, a whiteout (a 0/0 character device, as containerd's overlayfs
/// snapshotter writes them) hides the entry below it, and an opaque directory
/// (`trusted.overlay.opaque="y"`) hides the directories below it. Symbolic links are followed
/// inside the image root, as `openat2(RESOLVE_IN_ROOT)` and runc's securejoin do: an absolute
/// target restarts at the image's root, ".." stops there, at most 40 links. The file must be a
/// regular file of at most `maxBytes`: a link to /proc/self/pagemap, /dev/zero, a FIFO or a huge
/// file can neither make berthd read forever nor reach a host file.
///
/// Host paths are built only from names that `lstat` showed to be real directories of that
/// layer, and the layers are committed snapshots nobody writes to, so no host symlink is ever
/// crossed; the final open still uses O_NOFOLLOW and checks the inode it got.
public struct ImageFileReader: Sendable {
    public static let maxLinks = 40
    /// Components looked up for one path, links included: bounds the work a hostile chain of
    /// long link targets can cause.
    static let maxSteps = 4096

    /// The layers, topmost first (`RootFilesystem.lowerDirectories`).
    public let layers: [String]
    public var maxBytes: Int

    public init(layers: [String], maxBytes: Int = 1 << 20) {
        self.layers = layers
        self.maxBytes = maxBytes
    }

    /// The file's text (invalid UTF-8 replaced), or nil when the image does not have it (also
    /// when a link on the way points at nothing in the image). Throws when it exists but is
    /// not a regular file of at most `maxBytes`.
    public func text(_ path: String) throws(ImageFileError) -> String? {
        try contents(path).map { String(decoding: $0, as: UTF8.self) }
    }

    public func contents(_ path: String) throws(ImageFileError) -> Data? {
        guard let found = try resolve(path) else { return nil }
        return try read(found, as: path)
    }

    /// A directory of the merged tree: the layers' directories that make it up, topmost first.
    typealias MergedDirectory = [String]

    enum Entry {
        case directory(MergedDirectory)
        case symlink(hostPath: String)
        case other(hostPath: String, info: stat)
    }

    /// The host path of the file the container would see at `path`, with its lstat; nil when
    /// there is none.
    func resolve(_ path: String) throws(ImageFileError) -> (hostPath: String, info: stat)? {
        var pending = Self.components(path).reversed() as [String]
        // The directories walked from the image root; `.last` is the current one.
        var walked: [MergedDirectory] = [layers]
        var links = 0
        var steps = 0
        while let name = pending.popLast() {
            steps += 1
            guard steps <= Self.maxSteps else { throw .tooManyLinks(path: path) }
            if name == "." { continue }
            if name == ".." {
                if walked.count > 1 { walked.removeLast() }
                continue
            }
            guard let entry = try lookUp(name, in: walked[walked.count - 1], for: path) else { return nil }
            switch entry {
            case .directory(let merged):
                walked.append(merged)
            case .symlink(let hostPath):
                links += 1
                guard links <= Self.maxLinks else { throw .tooManyLinks(path: path) }
                let target = try Self.linkTarget(hostPath, for: path)
                if target.hasPrefix("/") { walked = [layers] }
                pending.append(contentsOf: Self.components(target).reversed())
            case .other(let hostPath, let info):
                // A file in the middle of a path: ENOTDIR, which the container sees as absent.
                guard pending.isEmpty else { return nil }
                guard info.st_mode & S_IFMT == S_IFREG else {
                    throw .notRegularFile(path: path, kind: Self.kind(info.st_mode))
                }
                return (hostPath, info)
            }
        }
        throw .notRegularFile(path: path, kind: "a directory")
    }

    /// `name` in a merged directory, as overlayfs looks it up.
    func lookUp(_ name: String, in directory: MergedDirectory, for path: String) throws(ImageFileError) -> Entry? {
        var merged: MergedDirectory = []
        for layerDirectory in directory {
            let hostPath = layerDirectory + "/" + name
            var info = stat()
            if lstat(hostPath, &info) != 0 {
                if errno == ENOENT || errno == ENOTDIR { continue }
                throw .unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            let type = info.st_mode & S_IFMT
            if merged.isEmpty {
                if type == S_IFCHR && info.st_rdev == 0 { return nil } // whiteout
                if type == S_IFLNK { return .symlink(hostPath: hostPath) }
                if type != S_IFDIR { return .other(hostPath: hostPath, info: info) }
            } else if type != S_IFDIR {
                break // a whiteout or a file below a directory ends the merge
            }
            merged.append(hostPath)
            if Self.isOpaque(hostPath) { break }
        }
        return merged.isEmpty ? nil : .directory(merged)
    }

    /// Opens what `resolve` found without following a link, checks it is still that regular
    /// file, and reads at most `maxBytes + 1` bytes of it.
    func read(_ found: (hostPath: String, info: stat), as path: String) throws(ImageFileError) -> Data {
        if found.info.st_size > maxBytes { throw .tooLarge(path: path, limit: maxBytes) }
        let fd = open(found.hostPath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        guard info.st_mode & S_IFMT == S_IFREG, info.st_dev == found.info.st_dev, info.st_ino == found.info.st_ino else {
            throw .notRegularFile(path: path, kind: Self.kind(info.st_mode))
        }
        var bytes = [UInt8](repeating: 0, count: maxBytes + 1)
        var filled = 0
        while filled < bytes.count {
            let got = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if got < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if got == 0 { break }
            filled += got
        }
        if filled > maxBytes { throw .tooLarge(path: path, limit: maxBytes) }
        return Data(bytes[0..<filled])
    }

    static func components(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    static func linkTarget(_ hostPath: String, for path: String) throws(ImageFileError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(hostPath, &buffer, buffer.count)
        guard count >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        guard count < buffer.count else { throw .tooManyLinks(path: path) }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func isOpaque(_ hostPath: String) -> Bool {
        var value: [UInt8] = [0, 0]
        let count = imageReaderLgetxattr(hostPath, "trusted.overlay.opaque", &value, value.count)
        return count == 1 && value[0] == UInt8(ascii: "y")
    }

    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        default: return "not a regular file"
        }
    }
}

// <sys/xattr.h> is not part of Swift's Glibc module: the one call, declared by hand.
@_silgen_name("lgetxattr")
private func imageReaderLgetxattr(_ path: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>,
                                  _ value: UnsafeMutableRawPointer?, _ size: Int) -> Int

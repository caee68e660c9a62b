import Foundation
import OCI

public enum LayerCompression: Sendable { case none, gzip, zstd }

/// The files of one image layer. Built into a tar (deterministic: sorted names, fixed mtime,
/// owner 0:0) and compressed only when an image is pushed.
public struct TestLayer: Sendable {
    enum Entry: Sendable, Equatable {
        case directory(mode: UInt16)
        case file(Data, mode: UInt16)
        case hostFile(String, mode: UInt16)
        case symlink(String)
        case random(bytes: Int, seed: UInt64)
    }

    /// Keyed by path without the leading slash.
    var entries: [String: Entry]
    public var compression: LayerCompression = .gzip

    init(entries: [String: Entry]) {
        self.entries = entries
    }

    public static let busyboxApplets = [
        "sh", "httpd", "sleep", "cat", "echo", "ls", "dd", "head", "mkdir", "rm", "wget", "nc", "env",
        "id", "hostname", "true", "false", "kill", "ps", "mount", "df", "tail", "grep", "sed", "awk",
        "touch", "wc", "test", "[", "printf", "uname", "whoami", "ip", "ifconfig", "ping", "netstat",
        "chmod", "cp", "mv", "ln", "date", "stat", "find", "xargs", "sha256sum", "seq", "tee", "top",
        "umount", "yes", "expr", "readlink", "pwd", "timeout", "nslookup", "free", "cut", "sort",
        "uniq", "tr", "basename", "dirname", "mktemp", "pidof", "sync", "du", "nproc", "od", "usleep",
    ]

    /// /bin/busybox (from busybox-static, /bin/busybox on the host) plus symlinks for its common
    /// applets, /etc/passwd and /etc/group with root and nobody, /tmp, /root,
    /// /www/index.html ("hello from berth\n"), and the given extra files (path → UTF-8 content).
    public static func busybox(extraFiles: [String: String] = [:]) -> TestLayer {
        var entries: [String: Entry] = [
            "bin/busybox": .hostFile("/bin/busybox", mode: 0o755),
            "etc/passwd": .file(Data("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n".utf8), mode: 0o644),
            "etc/group": .file(Data("root:x:0:\nnobody:x:65534:\n".utf8), mode: 0o644),
            "tmp": .directory(mode: 0o1777),
            "root": .directory(mode: 0o700),
            "www/index.html": .file(Data("hello from berth\n".utf8), mode: 0o644),
        ]
        for applet in busyboxApplets {
            entries["bin/" + applet] = .symlink("busybox")
        }
        var layer = TestLayer(entries: entries)
        for (path, content) in extraFiles {
            layer.entries[normalize(path)] = .file(Data(content.utf8), mode: 0o644)
        }
        return layer
    }

    /// Files with the given UTF-8 contents (mode 0644, parents created).
    public static func files(_ files: [String: String]) -> TestLayer {
        TestLayer(entries: Dictionary(uniqueKeysWithValues: files.map {
            (normalize($0.key), .file(Data($0.value.utf8), mode: 0o644))
        }))
    }

    /// A file of `bytes` pseudo-random (incompressible) bytes at `path`, deterministic for a given seed.
    public static func random(bytes: Int, path: String = "/data/blob", seed: UInt64 = 1) -> TestLayer {
        TestLayer(entries: [normalize(path): .random(bytes: bytes, seed: seed)])
    }

    public func compressed(_ compression: LayerCompression) -> TestLayer {
        var copy = self
        copy.compression = compression
        return copy
    }

    /// This layer with one more file, e.g. an executable script (mode 0o755).
    public func adding(_ path: String, contents: String, mode: UInt16 = 0o644) -> TestLayer {
        var copy = self
        copy.entries[Self.normalize(path)] = .file(Data(contents.utf8), mode: mode)
        return copy
    }

    /// This layer with a file of this machine's, copied in at `path` (symbolic links followed).
    public func addingHostFile(_ path: String, source: String, mode: UInt16 = 0o755) -> TestLayer {
        var copy = self
        copy.entries[Self.normalize(path)] = .hostFile(source, mode: mode)
        return copy
    }

    /// This layer with one more symbolic link.
    public func addingSymlink(_ path: String, target: String) -> TestLayer {
        var copy = self
        copy.entries[Self.normalize(path)] = .symlink(target)
        return copy
    }

    public var mediaType: String {
        switch compression {
        case .none: return MediaType.ociLayer
        case .gzip: return MediaType.ociLayerGzip
        case .zstd: return MediaType.ociLayerZstd
        }
    }

    static func normalize(_ path: String) -> String {
        path.split(separator: "/").joined(separator: "/")
    }
}

/// A layer built on disk: the blob to push and the digest of its uncompressed tar.
struct BuiltLayer {
    var blobPath: String
    var descriptor: Descriptor
    var diffID: Digest
}

extension TestLayer {
    /// A fixed mtime for every entry, so the same files always give the same tar.
    static let modificationTime = "@1704067200"

    func build(in workDirectory: String) throws -> BuiltLayer {
        let folder = try makeUniqueDirectory(in: workDirectory, prefix: "layer")
        let rootfs = folder + "/rootfs"
        try makeDirectory(rootfs, mode: 0o755)
        for path in entries.keys.sorted() {
            try materialize(path, entries[path]!, under: rootfs)
        }

        let tar = folder + "/layer.tar"
        let topLevel = try FileManager.default.contentsOfDirectory(atPath: rootfs).sorted()
        var arguments = ["--create", "--file", tar, "--directory", rootfs, "--format=gnu", "--sort=name",
                         "--mtime=\(Self.modificationTime)", "--owner=0", "--group=0", "--numeric-owner"]
        arguments += topLevel.isEmpty ? ["--files-from", "/dev/null"] : ["--"] + topLevel
        try runCommand("tar", arguments)
        let diffID = try digestOfFile(tar)

        let blob: String
        switch compression {
        case .none:
            blob = tar
        case .gzip:
            try runCommand("gzip", ["-n", "-k", "-f", tar])
            blob = tar + ".gz"
        case .zstd:
            try runCommand("zstd", ["-q", "-f", "--no-progress", tar, "-o", tar + ".zst"])
            blob = tar + ".zst"
        }
        let size = try FileManager.default.attributesOfItem(atPath: blob)[.size] as! NSNumber
        let descriptor = Descriptor(mediaType: mediaType, digest: try digestOfFile(blob), size: size.int64Value)
        return BuiltLayer(blobPath: blob, descriptor: descriptor, diffID: diffID)
    }

    private func materialize(_ path: String, _ entry: Entry, under rootfs: String) throws {
        let target = rootfs + "/" + path
        let components = path.split(separator: "/").dropLast()
        var parent = rootfs
        for component in components {
            parent += "/" + component
            if !FileManager.default.fileExists(atPath: parent) { try makeDirectory(parent, mode: 0o755) }
        }
        switch entry {
        case .directory(let mode):
            if !FileManager.default.fileExists(atPath: target) { try makeDirectory(target, mode: mode) }
            try setMode(target, mode)
        case .file(let data, let mode):
            try data.write(to: URL(fileURLWithPath: target))
            try setMode(target, mode)
        case .hostFile(let source, let mode):
            guard FileManager.default.fileExists(atPath: source) else {
                throw TestSupportError("\(source) is missing (apt-get install busybox-static)")
            }
            // The file itself, not a link to it (a library's name is often a link to its version).
            let resolved = URL(fileURLWithPath: source).resolvingSymlinksInPath().path
            try FileManager.default.copyItem(atPath: resolved, toPath: target)
            try setMode(target, mode)
        case .symlink(let destination):
            try FileManager.default.createSymbolicLink(atPath: target, withDestinationPath: destination)
        case .random(let bytes, let seed):
            try writeRandomFile(target, bytes: bytes, seed: seed)
            try setMode(target, 0o644)
        }
    }
}

private func makeDirectory(_ path: String, mode: UInt16) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    try setMode(path, mode)
}

/// chmod after creating, because the umask would otherwise take bits off (and the digest with them).
private func setMode(_ path: String, _ mode: UInt16) throws {
    guard chmod(path, mode_t(mode)) == 0 else { throw TestSupportError("chmod \(path) failed: errno \(errno)") }
}

/// splitmix64: fast, seedable, and its output does not compress.
private func writeRandomFile(_ path: String, bytes: Int, seed: UInt64) throws {
    guard FileManager.default.createFile(atPath: path, contents: nil) else {
        throw TestSupportError("cannot create \(path)")
    }
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    var state = seed
    var remaining = bytes
    let chunkWords = 1 << 17
    var buffer = [UInt64](repeating: 0, count: chunkWords)
    while remaining > 0 {
        buffer.withUnsafeMutableBufferPointer { words in
            for i in 0..<words.count {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                words[i] = (z ^ (z >> 31)).littleEndian
            }
        }
        let count = min(remaining, chunkWords * 8)
        try buffer.withUnsafeBytes { try handle.write(contentsOf: Data($0.prefix(count))) }
        remaining -= count
    }
}

/// The sha256 of a file, read in chunks so large layers do not sit in memory twice.
func digestOfFile(_ path: String) throws -> Digest {
    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    var verifier = DigestVerifier()
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
        verifier.update(chunk)
    }
    return verifier.finalize()
}

import Foundation

/// The dynamic linker's cache, /etc/ld.so.cache: what `ldconfig -p` prints, read from the file
/// so that it works on a tree under another root (ldconfig cannot be pointed at one).
///
/// glibc's "new" format (the only one ldconfig writes since glibc 2.32; the tail of the combined
/// format before that): the magic "glibc-ld.so.cache1.1", nlibs, the string table's length,
/// flags, an extension offset and three unused words (48 bytes), then nlibs entries of flags
/// (int32), key and value (offsets of the name and the path), osversion (uint32) and hwcap
/// (uint64). Offsets count from the start of that header. The old libc5 format alone is not
/// read: the standard folders are searched after the cache in any case.
struct LinkerCache: Sendable, Hashable {
    struct Entry: Sendable, Hashable {
        /// A soname or link name: "libcuda.so.1".
        var name: String
        var path: String
        var flags: Int32
    }

    var entries: [Entry]

    static let newMagic = Array("glibc-ld.so.cache1.1".utf8)
    static let oldMagic = Array("ld.so-1.7.0".utf8)
    static let headerSize = 48
    static let entrySize = 24

    /// The entries for this machine's architecture (`ldconfig -p`'s "(libc6,x86-64)").
    func entries(flags: Int32 = LinkerCache.hostFlags) -> [Entry] {
        entries.filter { $0.flags == flags }
    }

    /// FLAG_ELF_LIBC6 with this architecture's bits: FLAG_X8664_LIB64 or FLAG_AARCH64_LIB64.
    static var hostFlags: Int32 {
        #if arch(x86_64)
        0x0303
        #elseif arch(arm64)
        0x0a03
        #else
        0x0003
        #endif
    }

    init(entries: [Entry]) {
        self.entries = entries
    }

    /// Nil when the data is not a cache this can read.
    init?(data: Data) {
        let bytes = [UInt8](data)
        var start = 0
        if bytes.starts(with: Self.oldMagic) {
            guard bytes.count >= 16 else { return nil }
            let oldCount = Int(Self.uint32(bytes, 12))
            start = (16 + oldCount * 12 + 7) & ~7
        }
        guard bytes.count >= start + Self.headerSize,
              bytes[start..<start + Self.newMagic.count].elementsEqual(Self.newMagic) else { return nil }
        let count = Int(Self.uint32(bytes, start + 20))
        guard count >= 0, bytes.count >= start + Self.headerSize + count * Self.entrySize else { return nil }
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        for index in 0..<count {
            let offset = start + Self.headerSize + index * Self.entrySize
            let flags = Int32(bitPattern: Self.uint32(bytes, offset))
            guard let name = Self.string(bytes, start + Int(Self.uint32(bytes, offset + 4))),
                  let path = Self.string(bytes, start + Int(Self.uint32(bytes, offset + 8)))
            else { return nil }
            entries.append(Entry(name: name, path: path, flags: flags))
        }
        self.entries = entries
    }

    /// /etc/ld.so.cache under the root; nil when missing or unreadable.
    static func read(root: HostRoot) -> LinkerCache? {
        root.data("/etc/ld.so.cache").flatMap(LinkerCache.init(data:))
    }

    /// The cache file for `entries`, in the new format (tests write one into a fake tree).
    func encoded() -> Data {
        var strings: [UInt8] = []
        var offsets: [(key: UInt32, value: UInt32)] = []
        let stringsStart = Self.headerSize + entries.count * Self.entrySize
        for entry in entries {
            let key = UInt32(stringsStart + strings.count)
            strings += Array(entry.name.utf8) + [0]
            let value = UInt32(stringsStart + strings.count)
            strings += Array(entry.path.utf8) + [0]
            offsets.append((key, value))
        }
        var bytes = Self.newMagic
        func append(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        append(UInt32(entries.count))
        append(UInt32(strings.count))
        bytes += [2, 0, 0, 0]  // flags: little-endian
        append(0)  // no extensions
        append(0); append(0); append(0)
        for (entry, offset) in zip(entries, offsets) {
            append(UInt32(bitPattern: entry.flags))
            append(offset.key)
            append(offset.value)
            append(0)
            append(0); append(0)
        }
        return Data(bytes + strings)
    }

    private static func uint32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        guard offset >= 0, offset + 4 <= bytes.count else { return 0 }
        return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
    }

    private static func string(_ bytes: [UInt8], _ offset: Int) -> String? {
        guard offset >= 0, offset < bytes.count, let end = bytes[offset...].firstIndex(of: 0) else { return nil }
        return String(decoding: bytes[offset..<end], as: UTF8.self)
    }
}

import Foundation
import Runtime
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `ImageFileReader` on layer folders built here: overlayfs's merge rules and every way a hostile
/// image could make berthd read something else than a small regular file of the image.
final class ImageFileReaderTests: XCTestCase {
    private var root = ""
    /// Topmost first, as `RootFilesystem.lowerDirectories` gives them.
    private var layers: [String] = []

    override func setUpWithError() throws {
        // Device nodes and trusted.* xattrs need root, as berthd has.
        if getuid() != 0 && ProcessInfo.processInfo.environment["CI"] == nil {
            throw XCTSkip("needs root (mknod, trusted.overlay.* xattrs)")
        }
        var template = Array("/tmp/berth-imagefile.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        root = String(cString: made)
        layers = try (0..<3).map { index in
            let path = root + "/layer\(index)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return path
        }
    }

    override func tearDownWithError() throws {
        if !root.isEmpty { try? FileManager.default.removeItem(atPath: root) }
    }

    // MARK: - Building layers

    private func write(_ layer: Int, _ path: String, _ text: String) throws {
        let file = layers[layer] + path
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: file, atomically: false, encoding: .utf8)
    }

    private func link(_ layer: Int, _ path: String, to target: String) throws {
        let file = layers[layer] + path
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        XCTAssertEqual(symlink(target, file), 0, String(cString: strerror(errno)))
    }

    private func directory(_ layer: Int, _ path: String, opaque: Bool = false) throws {
        let folder = layers[layer] + path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if opaque {
            XCTAssertEqual(testSetxattr(folder, "trusted.overlay.opaque", "y", 1, 0), 0,
                           "setxattr: \(String(cString: strerror(errno)))")
        }
    }

    private func node(_ layer: Int, _ path: String, type: mode_t, device: dev_t = 0) throws {
        let file = layers[layer] + path
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        XCTAssertEqual(mknod(file, type | 0o644, device), 0, "mknod: \(String(cString: strerror(errno)))")
    }

    private func read(_ path: String = "/etc/passwd", maxBytes: Int = 1 << 20) throws -> String? {
        try ImageFileReader(layers: layers, maxBytes: maxBytes).text(path)
    }

    private func assertRefused(_ expected: ImageFileError, path: String = "/etc/passwd", maxBytes: Int = 1 << 20,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try read(path, maxBytes: maxBytes), file: file, line: line) { error in
            XCTAssertEqual(error as? ImageFileError, expected, file: file, line: line)
            XCTAssertFalse("\(error)".contains(root), "no host path in \(error)", file: file, line: line)
        }
    }

    // MARK: - Merging layers

    func testTopmostLayerWinsAndLowerLayersShowThroughMergedDirectories() throws {
        try write(0, "/etc/passwd", "top\n")
        try write(1, "/etc/passwd", "middle\n")
        try write(2, "/etc/group", "bottom\n")
        XCTAssertEqual(try read(), "top\n")
        XCTAssertEqual(try read("/etc/group"), "bottom\n")
        XCTAssertNil(try read("/etc/shadow"))
        XCTAssertNil(try read("/missing/passwd"))
    }

    func testWhiteoutHidesTheFileBelow() throws {
        try node(0, "/etc/passwd", type: S_IFCHR, device: 0)
        try write(1, "/etc/passwd", "deleted in the upper layer\n")
        XCTAssertNil(try read())
    }

    func testWhiteoutOfADirectoryHidesEverythingUnderIt() throws {
        try node(0, "/etc", type: S_IFCHR, device: 0)
        try write(1, "/etc/passwd", "deleted with its folder\n")
        XCTAssertNil(try read())
    }

    func testOpaqueDirectoryHidesTheDirectoriesBelow() throws {
        try directory(0, "/etc", opaque: true)
        try write(0, "/etc/group", "upper group\n")
        try write(1, "/etc/passwd", "hidden by the opaque folder\n")
        XCTAssertNil(try read())
        XCTAssertEqual(try read("/etc/group"), "upper group\n")
    }

    func testAFileBelowADirectoryEndsTheMerge() throws {
        try write(0, "/etc/hostname", "upper\n")
        try write(1, "/etc", "a file where the upper layer has a folder\n")
        try write(2, "/etc/passwd", "below the file: not visible\n")
        XCTAssertNil(try read())
    }

    func testAFileInTheMiddleOfThePathIsAbsent() throws {
        try write(0, "/etc", "not a folder\n")
        XCTAssertNil(try read())
    }

    // MARK: - Links stay inside the image

    func testLinkChainAcrossLayersIsFollowedInsideTheImage() throws {
        try link(0, "/etc/passwd", to: "passwd.d/../passwd.real")
        try link(1, "/etc/passwd.real", to: "../usr/share/base-passwd")
        try link(1, "/usr/share/base-passwd", to: "/nix/store/abc-passwd")
        try write(2, "/nix/store/abc-passwd", "root:x:0:0::/root:/bin/sh\n")
        try directory(2, "/etc/passwd.d")
        XCTAssertEqual(try read(), "root:x:0:0::/root:/bin/sh\n")
    }

    func testRelativeAndAbsoluteLinksCannotLeaveTheImageRoot() throws {
        // A real host file the links aim at; resolved in the image, they find nothing.
        let hostFile = root + "/host-secret"
        try "root:x:4242:4242::/:/bin/sh\n".write(toFile: hostFile, atomically: false, encoding: .utf8)
        let climbs = String(repeating: "../", count: 20)
        try link(0, "/etc/passwd", to: climbs + String(hostFile.dropFirst()))
        XCTAssertNil(try read())
        try link(0, "/etc/group", to: hostFile)
        XCTAssertNil(try read("/etc/group"))

        // ".." stops at the image root: the image's own file of that name is what is read.
        try write(1, hostFile, "the image's copy\n")
        XCTAssertEqual(try read(), "the image's copy\n")
        XCTAssertEqual(try read("/etc/group"), "the image's copy\n")
        try link(0, "/etc/shadow", to: "../../../../etc/hostname")
        try write(0, "/etc/hostname", "image-hostname\n")
        XCTAssertEqual(try read("/etc/shadow"), "image-hostname\n")
    }

    func testLinkToProcSelfPagemapIsNotTheHostsProc() throws {
        try link(0, "/etc/passwd", to: "/proc/self/pagemap")
        XCTAssertNil(try read())
        // Even an image that ships a /proc/self/pagemap of its own gets only that file.
        try write(1, "/proc/self/pagemap", "a file of the image\n")
        XCTAssertEqual(try read(), "a file of the image\n")
    }

    func testLinkToADeviceNodeOfTheImageIsRefused() throws {
        try link(0, "/etc/passwd", to: "../dev/zero")
        try node(1, "/dev/zero", type: S_IFCHR, device: 0x105) // 1:5
        assertRefused(.notRegularFile(path: "/etc/passwd", kind: "a character device"))
    }

    func testLoopOfLinksIsRefused() throws {
        try link(0, "/etc/passwd", to: "group")
        try link(0, "/etc/group", to: "/etc/passwd")
        assertRefused(.tooManyLinks(path: "/etc/passwd"))
        try link(0, "/etc/self", to: "self")
        assertRefused(.tooManyLinks(path: "/etc/self"), path: "/etc/self")
    }

    func testFortyLinksAreFollowedAndFortyOneAreNot() throws {
        for index in 0..<40 {
            try link(0, "/chain/\(index)", to: String(index + 1))
        }
        try write(1, "/chain/40", "end\n")
        XCTAssertEqual(try read("/chain/0"), "end\n")
        try link(0, "/chain/long", to: "0")
        assertRefused(.tooManyLinks(path: "/chain/long"), path: "/chain/long")
    }

    // MARK: - Only small regular files

    func testFIFOIsRefusedWithoutBlocking() throws {
        try node(0, "/etc/passwd", type: S_IFIFO)
        let started = ContinuousClock.now
        assertRefused(.notRegularFile(path: "/etc/passwd", kind: "a FIFO"))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1))
    }

    func testDirectoryIsRefused() throws {
        try directory(1, "/etc/passwd")
        assertRefused(.notRegularFile(path: "/etc/passwd", kind: "a directory"))
    }

    func testFileOverTheCapIsRefusedAndOneAtTheCapIsRead() throws {
        try write(0, "/etc/passwd", String(repeating: "a", count: 1024))
        XCTAssertEqual(try read(maxBytes: 1024)?.count, 1024)
        assertRefused(.tooLarge(path: "/etc/passwd", limit: 1023), maxBytes: 1023)

        // A huge sparse file: refused from its size, nothing read.
        let huge = layers[0] + "/etc/group"
        XCTAssertTrue(FileManager.default.createFile(atPath: huge, contents: nil))
        XCTAssertEqual(truncate(huge, 64 << 30), 0)
        let before = RSSSampler.current()
        assertRefused(.tooLarge(path: "/etc/group", limit: 1 << 20), path: "/etc/group")
        XCTAssertLessThan(RSSSampler.current() - before, 8 << 20)
    }

    func testErrorTextNamesTheImagePathOnly() {
        XCTAssertEqual(ImageFileError.notRegularFile(path: "/etc/passwd", kind: "a FIFO").description,
                       "the image's /etc/passwd is not a regular file inside the image (it is a FIFO)")
    }
}

// <sys/xattr.h> is not part of Swift's Glibc module.
@_silgen_name("setxattr")
private func testSetxattr(_ path: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>,
                          _ value: UnsafeRawPointer?, _ size: Int, _ flags: Int32) -> Int32

import Foundation
@testable import Runtime
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The walk that moves an image's files onto the container range, on a plain folder.
final class OwnershipShiftTests: XCTestCase {
    func testShiftsEveryOwnerKeepsModesAndFollowsNoLink() throws {
        guard getuid() == 0 else { throw XCTSkip("chown to other users needs root") }
        let root = try makeFolder("shift")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let outside = try makeFolder("shift-outside")
        defer { try? FileManager.default.removeItem(atPath: outside) }
        _ = FileManager.default.createFile(atPath: outside + "/host-file", contents: Data("host".utf8))

        try FileManager.default.createDirectory(atPath: root + "/tree/deep", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root + "/tree/deep/user-file", contents: Data("x".utf8))
        XCTAssertEqual(chown(root + "/tree/deep/user-file", 1000, 100), 0)
        _ = FileManager.default.createFile(atPath: root + "/setuid", contents: Data("#!/bin/sh\n".utf8))
        XCTAssertEqual(chmod(root + "/setuid", 0o4755), 0)
        XCTAssertEqual(chmod(root + "/tree", 0o2775), 0)
        XCTAssertEqual(symlink(outside + "/host-file", root + "/link-to-host"), 0)
        XCTAssertEqual(symlink(outside, root + "/link-to-host-folder"), 0)

        let mapping = try UserNamespaceMapping(base: 1_000_000)
        let counts = try OwnershipShift(mapping: mapping).apply(to: root)

        XCTAssertEqual(counts.entries, 7)
        XCTAssertEqual(counts.restoredModes, 1)
        XCTAssertEqual(try owner(root), [1_000_000, 1_000_000])
        XCTAssertEqual(try owner(root + "/tree/deep/user-file"), [1_001_000, 1_000_100])
        XCTAssertEqual(try mode(root + "/setuid"), 0o4755, "chown clears setuid; the walk puts it back")
        XCTAssertEqual(try mode(root + "/tree"), 0o2775)
        XCTAssertEqual(try owner(root + "/link-to-host", follow: false), [1_000_000, 1_000_000])
        XCTAssertEqual(try owner(outside + "/host-file"), [0, 0], "a link's target outside the tree is not touched")
        XCTAssertEqual(try owner(outside), [0, 0])
    }

    func testAnOwnerOutsideTheRangeIsAClearError() throws {
        guard getuid() == 0 else { throw XCTSkip("chown to other users needs root") }
        let root = try makeFolder("shift-range")
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = FileManager.default.createFile(atPath: root + "/big-uid", contents: nil)
        XCTAssertEqual(chown(root + "/big-uid", 70000, 0), 0)
        XCTAssertThrowsError(try OwnershipShift(mapping: try UserNamespaceMapping(base: 1_000_000)).apply(to: root)) { error in
            XCTAssertTrue("\(error)".contains("big-uid: owned by 70000:0, outside the container's ids 0…65535"), "\(error)")
        }
    }

    func testFileCapabilitiesSurviveTheChown() throws {
        guard getuid() == 0 else { throw XCTSkip("chown to other users needs root") }
        let root = try makeFolder("shift-caps")
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = FileManager.default.createFile(atPath: root + "/ping", contents: Data("x".utf8))
        // A v2 capability set: cap_net_raw permitted and effective.
        let v2: [UInt8] = [0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        let set = v2.withUnsafeBytes { testSetxattr(root + "/ping", "security.capability", $0.baseAddress, $0.count, 0) }
        try XCTSkipIf(set != 0, "this filesystem takes no security.capability (errno \(errno))")
        let counts = try OwnershipShift(mapping: try UserNamespaceMapping(base: 1_000_000)).apply(to: root)
        XCTAssertEqual(counts.restoredCapabilities, 1)
        var buffer = [UInt8](repeating: 0, count: 64)
        let size = buffer.withUnsafeMutableBytes { testGetxattr(root + "/ping", "security.capability", $0.baseAddress, $0.count) }
        XCTAssertEqual(size, v2.count)
        XCTAssertEqual(try owner(root + "/ping"), [1_000_000, 1_000_000])
    }

    private func owner(_ path: String, follow: Bool = true) throws -> [UInt32] {
        var info = stat()
        guard (follow ? stat(path, &info) : lstat(path, &info)) == 0 else { throw TestSupportError("stat \(path): \(errno)") }
        return [info.st_uid, info.st_gid]
    }

    private func mode(_ path: String) throws -> UInt32 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw TestSupportError("stat \(path): \(errno)") }
        return info.st_mode & 0o7777
    }
}

private func makeFolder(_ name: String) throws -> String {
    var template = Array("\(FileManager.default.temporaryDirectory.path)/\(name)-XXXXXX".utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw TestSupportError("mkdtemp failed: errno \(errno)")
    }
    return String(cString: made)
}

@_silgen_name("getxattr")
private func testGetxattr(_ path: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>,
                          _ value: UnsafeMutableRawPointer?, _ size: Int) -> Int
@_silgen_name("setxattr")
private func testSetxattr(_ path: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>,
                          _ value: UnsafeRawPointer?, _ size: Int, _ flags: Int32) -> Int32

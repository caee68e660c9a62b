import Foundation
@testable import Runtime
import XCTest

/// The files bind-mounted into a container. The hosts file is written before the task is
/// created, without the container's address (the network is attached meanwhile), then given
/// the address in place: the created task's bind mount holds the first file's inode.
final class ContainerFilesTests: XCTestCase {
    func testHostsFileGetsItsAddressInPlace() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-files-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = ContainerFiles(directory: directory)

        try files.write(hostname: "web", address: nil, hostResolvConf: "/nonexistent")
        XCTAssertEqual(try String(contentsOfFile: files.hostsPath, encoding: .utf8),
                       "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        XCTAssertEqual(try String(contentsOfFile: files.hostnamePath, encoding: .utf8), "web\n")
        XCTAssertEqual(chmod(files.hostsPath, 0o640), 0)
        let before = try FileManager.default.attributesOfItem(atPath: files.hostsPath)

        try files.writeHosts(hostname: "web", address: "10.88.0.9")
        let after = try FileManager.default.attributesOfItem(atPath: files.hostsPath)
        XCTAssertEqual(after[.systemFileNumber] as? Int, before[.systemFileNumber] as? Int, "the same inode")
        XCTAssertEqual(after[.posixPermissions] as? Int, 0o640, "mode kept")
        XCTAssertEqual(try String(contentsOfFile: files.hostsPath, encoding: .utf8),
                       "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.88.0.9\tweb\n")

        // With the address known at once (a kept namespace), it is there from the start.
        try files.write(hostname: "web", address: "10.88.0.9", hostResolvConf: "/nonexistent")
        XCTAssertTrue(try String(contentsOfFile: files.hostsPath, encoding: .utf8).hasSuffix("10.88.0.9\tweb\n"))

        // The in-place write never follows a link planted where the file was.
        try FileManager.default.removeItem(atPath: files.hostsPath)
        try FileManager.default.createSymbolicLink(atPath: files.hostsPath, withDestinationPath: directory + "/elsewhere")
        XCTAssertThrowsError(try files.writeHosts(hostname: "web", address: "10.88.0.9"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/elsewhere"))
    }
}

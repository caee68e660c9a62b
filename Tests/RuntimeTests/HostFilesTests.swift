import BerthModel
import ContainerdClient
import Foundation
import Runtime
import TestSupport
import XCTest

/// What berthd reads and writes on the host for a revision: the image's /etc/passwd is read
/// inside the image only, and a revision's folders, image file and mount are closed to others.
final class HostFilesTests: XCTestCase {
    /// Hostile links in the image's /etc/passwd with a named `User`, so the lookup matters: each
    /// revision fails with a status that carries none of the host file, no container record (and
    /// so no spec) is written, and this process's memory stays flat (berthd used to read
    /// /proc/self/pagemap until the kernel killed it).
    func testPasswdLinkedOutOfTheImageFailsWithoutReadingTheHost() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        f.backoff = .init(initial: .seconds(60), max: .seconds(60), resetAfter: .seconds(60))
        // A host file that would make the revision start (uid 4242) if it were ever read.
        let hostFolder = try f.env.makeTemporaryDirectory("hostile-host")
        defer { try? FileManager.default.removeItem(atPath: hostFolder) }
        let hostPasswd = hostFolder + "/passwd"
        try "app:x:4242:4242:HOST-SECRET:/:/bin/sh\n".write(toFile: hostPasswd, atomically: false, encoding: .utf8)

        let targets = [
            "pagemap": "/proc/self/pagemap",
            "relative": String(repeating: "../", count: 12) + String(hostPasswd.dropFirst()),
            "absolute": hostPasswd,
        ]
        var deployments: [String: RevisionDeployment] = [:]
        for (name, target) in targets {
            // The link in a layer above busybox's own /etc/passwd, which it hides.
            let image = TestImage(layers: [.busybox(), TestLayer.files(["/etc/motd": "hi\n"]).addingSymlink("/etc/passwd", target: target)],
                                  cmd: ["httpd", "-f", "-p", "80", "-h", "/www"], user: "app")
            let reference = try await TestRegistry.push(image, to: f.env.registry, repository: "berth/rt-hostile-\(name)", tag: "1").reference
            deployments[name] = try f.deployment("hostile-\(name)", image: reference)
        }
        let hostile = deployments
        try await f.withRuntime { runtime, client in
            let sampler = RSSSampler()
            for deployment in hostile.values { runtime.deploy(deployment) }
            for (name, deployment) in hostile {
                let failed = try await runtime.waitForStatus(deployment.runtimeID, timeout: .seconds(60)) { $0.phase == .failed }
                let message = failed.message ?? ""
                XCTAssertTrue(message.contains("image user \"app\" not found: the image has no /etc/passwd"), "\(name): \(message)")
                XCTAssertFalse(message.contains("4242") || message.contains("HOST-SECRET") || message.contains(hostFolder), "\(name): \(message)")
                let record = try await client.container(id: deployment.runtimeID)
                XCTAssertNil(record, "\(name): no container record, so no spec")
            }
            let growth = sampler.stop()
            XCTAssertLessThan(growth, 64 << 20, "RSS grew by \(growth) bytes")
            print("hostile passwd: RSS growth \(growth / 1024) KiB over 3 revisions")
        }
    }

    /// A numeric (here empty) `User` does not need /etc/passwd: an image whose passwd is a link
    /// to nothing in the image runs as root, as it does under Docker. (A link to /proc/self/...
    /// is refused by runc itself, which reads the file inside the container's own /proc.)
    func testNumericUserRunsWhenPasswdLinksToNothingInTheImage() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        let image = TestImage(layers: [.busybox().addingSymlink("/etc/passwd", target: "../nonexistent/passwd")],
                              cmd: ["httpd", "-f", "-p", "80", "-h", "/www"])
        let reference = try await TestRegistry.push(image, to: f.env.registry, repository: "berth/rt-nopasswd", tag: "1").reference
        let d = try f.deployment("nopasswd", image: reference)
        try await f.withRuntime { runtime, _ in
            runtime.deploy(d)
            let status = try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(60)) { $0.phase == .running }
            let page = try await httpGet(try XCTUnwrap(status.address))
            XCTAssertEqual(page, "hello from berth\n")
        }
    }

    /// The ephemeral filesystem is mounted nosuid,nodev,noatime (and overlay whiteouts, which are
    /// device nodes, still work on it); the revision's folders are 0700, its image 0600, its log
    /// folder 0700 with a 0640 log, its CNI result folder 0700.
    func testRevisionMountOptionsAndFileModes() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        let d = try f.deployment("modes", image: try await f.pushShell("berth/rt-modes",
            "rm /etc/group && echo written > /www/index.html && echo started && httpd -f -p 80 -h /www"))
        try await f.withRuntime { runtime, _ in
            runtime.deploy(d)
            let status = try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(60)) { $0.phase == .running }
            let page = try await httpGet(try XCTUnwrap(status.address))
            XCTAssertEqual(page, "written\n")

            let folder = f.dataDirectory + "/containers/\(d.runtimeID)"
            let mountPoint = folder + "/ephemeral"
            let mounts = try readProcFile("/proc/mounts").split(separator: "\n")
            let line = try XCTUnwrap(mounts.first { $0.split(separator: " ").dropFirst().first.map(String.init) == mountPoint },
                                     "no mount at \(mountPoint)")
            let options = Set(line.split(separator: " ")[3].split(separator: ",").map(String.init))
            XCTAssertTrue(options.isSuperset(of: ["nosuid", "nodev", "noatime"]), "\(line)")

            // rm of an image file left a whiteout (a 0/0 character device) on the nodev mount.
            var whiteout = stat()
            XCTAssertEqual(lstat(mountPoint + "/upper/etc/group", &whiteout), 0)
            XCTAssertEqual(whiteout.st_mode & S_IFMT, S_IFCHR)
            XCTAssertEqual(whiteout.st_rdev, 0)

            let expected: [(String, mode_t)] = [
                (f.dataDirectory + "/containers", 0o700),
                (folder, 0o700),
                (folder + "/etc", 0o700),
                (folder + "/ephemeral.img", 0o600),
                (f.dataDirectory + "/logs", 0o700),
                (f.dataDirectory + "/logs/\(d.runtimeID)", 0o700),
                (f.dataDirectory + "/logs/\(d.runtimeID)/container.log", 0o640),
                (f.network.resultsDirectory, 0o700),
            ]
            for (path, mode) in expected {
                var info = stat()
                XCTAssertEqual(stat(path, &info), 0, path)
                XCTAssertEqual(String(info.st_mode & 0o7777, radix: 8), String(mode, radix: 8), path)
            }
        }
    }
}

import Foundation
import TestSupport
import XCTest

final class ContainerdProcessTests: XCTestCase {
    private func isAlive(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno != ESRCH
    }

    func testStartRestartStop() async throws {
        let environment = try TestEnvironment.current()
        let containerd = try ContainerdProcess(directory: environment.makeTemporaryDirectory("containerd"))
        defer { containerd.cleanup() }

        try await containerd.start()
        let first = try XCTUnwrap(containerd.pid)
        XCTAssertTrue(try runCommand("ctr", ["--address", containerd.socket, "version"]).contains("Server:"))

        try await containerd.restart()
        let second = try XCTUnwrap(containerd.pid)
        XCTAssertNotEqual(first, second)
        XCTAssertFalse(isAlive(first))
        XCTAssertTrue(try runCommand("ctr", ["--address", containerd.socket, "version"]).contains("Server:"))

        try await containerd.stop()
        XCTAssertNil(containerd.pid)
        XCTAssertFalse(isAlive(second))
        XCTAssertThrowsError(try runCommand("ctr", ["--address", containerd.socket, "--connect-timeout", "1s", "version"]))
        try await containerd.stop()
    }

    /// A task survives a restart (its shim keeps it), and cleanup() removes it, its shim and mounts.
    func testTaskSurvivesRestartAndCleanupRemovesIt() async throws {
        let environment = try TestEnvironment.current()
        let pushed = try await TestRegistry.push(TestImage(layers: [.busybox()], cmd: ["/bin/sleep", "1000"]),
                                                 to: environment.registry, repository: "testsupport/sleep", tag: "v1")
        let directory = try environment.makeTemporaryDirectory("containerd")
        let containerd = try ContainerdProcess(directory: directory)
        defer { containerd.cleanup() }
        try await containerd.start()
        let ctr = ["--address", containerd.socket, "--namespace", "testsupport"]
        try runCommand("ctr", ctr + ["images", "pull", "--plain-http", pushed.reference])
        try runCommand("ctr", ctr + ["run", "-d", pushed.reference, "sleeper"])

        try await containerd.restart()
        let tasks = try runCommand("ctr", ctr + ["tasks", "ls"])
        XCTAssertTrue(tasks.contains("sleeper") && tasks.contains("RUNNING"), tasks)
        let taskPID = try XCTUnwrap(tasks.split(separator: "\n").last?.split(separator: " ", omittingEmptySubsequences: true)
            .dropFirst().first.flatMap { Int32($0) })

        containerd.cleanup()
        XCTAssertNil(containerd.pid)
        XCTAssertFalse(isAlive(taskPID))
        let mounts = try readProcFile("/proc/mounts")
        XCTAssertFalse(mounts.contains(directory + "/"), mounts)
        let shims = try runCommand("sh", ["-c", "pgrep -af containerd-shim || true"])
        XCTAssertFalse(shims.contains(containerd.socket), shims)
    }

    /// The image TestRegistry builds really runs: pulled and run by the shared containerd.
    func testBusyboxImageRunsInContainerd() async throws {
        let environment = try TestEnvironment.current()
        let image = TestImage(layers: [.busybox(), .files(["/etc/berth": "layered\n"]).compressed(.zstd)],
                              cmd: ["/bin/sh", "-c", "cat /www/index.html /etc/berth; id -u; ls -ld /tmp"])
        let pushed = try await TestRegistry.push(image, to: environment.registry, repository: "testsupport/run", tag: "v1")
        let ctr = ["--address", environment.containerdSocket, "--namespace", "testsupport"]
        try runCommand("ctr", ctr + ["images", "pull", "--plain-http", pushed.reference])
        let output = try runCommand("ctr", ctr + ["run", "--rm", pushed.reference, "testsupport-run-\(getpid())"])
        XCTAssertTrue(output.hasPrefix("hello from berth\nlayered\n0\ndrwxrwxrwt"), output)
    }
}

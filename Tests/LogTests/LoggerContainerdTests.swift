import Foundation
import Runtime
import TestSupport
import XCTest

/// berth-logger under containerd's real runc shim (through `ctr`, with no berthd anywhere).
final class LoggerContainerdTests: XCTestCase {
    struct Fixture {
        let env: TestEnvironment
        let namespace = "berth-log-\(UUID().uuidString.prefix(8).lowercased())"
        let logs: ContainerLogs
        let image: String

        @discardableResult
        func ctr(_ arguments: [String]) throws -> String {
            try runCommand("/usr/bin/ctr", ["--address", env.containerdSocket, "-n", namespace] + arguments)
        }

        /// Kills and deletes whatever is left of the container and the image (best effort).
        func cleanUp(_ id: String) {
            _ = try? ctr(["tasks", "kill", "-s", "KILL", id])
            for _ in 0..<50 {
                if (try? ctr(["tasks", "delete", id])) != nil { break }
                if (try? ctr(["tasks", "ls", "-q"]))?.contains(id) == false { break }
                usleep(100_000)
            }
            _ = try? ctr(["containers", "delete", id])
        }

        func removeImage() {
            _ = try? ctr(["images", "rm", "--sync", image])
            _ = try? runCommand("/usr/bin/ctr", ["--address", env.containerdSocket, "namespaces", "rm", namespace])
        }
    }

    private func makeFixture(maxFileBytes: Int64 = 10 << 20, maxFiles: Int = 3) async throws -> Fixture {
        let env = try TestEnvironment.current()
        guard FileManager.default.isExecutableFile(atPath: LoggerProcess.binary) else {
            throw LoggerTestError("berth-logger is not built at \(LoggerProcess.binary)")
        }
        let pushed = try await TestRegistry.push(TestImage(layers: [.busybox()], cmd: ["sh"]), to: env.registry,
                                                 repository: "berth/log-test", tag: "v1")
        let logs = ContainerLogs(configuration: LogConfiguration(
            directory: try env.makeTemporaryDirectory("logs"), maxFileBytes: maxFileBytes, maxFiles: maxFiles,
            loggerPath: LoggerProcess.binary))
        let fixture = Fixture(env: env, logs: logs, image: pushed.reference)
        try fixture.ctr(["images", "pull", "--plain-http", pushed.reference])
        return fixture
    }

    /// Loggers of this container: processes running the berth-logger binary with its CONTAINER_ID.
    private func loggerProcesses(containerID: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        let binary = URL(fileURLWithPath: LoggerProcess.binary).resolvingSymlinksInPath().path
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe"),
                  executable == binary,
                  let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?
                .split(separator: ")").last?.split(separator: " ").first
            guard state != "Z" else { return false }
            return environment.split(separator: 0).contains { Array($0) == Array("CONTAINER_ID=\(containerID)".utf8) }
        }
    }

    private func parentCommand(of pid: pid_t) -> String {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let ppid = stat.split(separator: ")").last?.split(separator: " ").dropFirst().first,
              let comm = try? String(contentsOfFile: "/proc/\(ppid)/comm", encoding: .utf8) else { return "" }
        return comm.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testShortLivedContainerWritesBothStreamsThroughTheShim() async throws {
        let f = try await makeFixture()
        defer { f.removeImage() }
        let id = "log-short-\(UUID().uuidString.prefix(6).lowercased())"
        defer { f.cleanUp(id) }

        // Foreground `ctr run --rm`: ctr waits for the exit, then deletes the task, which closes
        // the pipes and SIGTERMs the logger; the shim waits for the logger to exit.
        let output = try f.ctr(["run", "--rm", "--log-uri", f.logs.uri(containerID: id), f.image, id,
                                "sh", "-c", "echo out-1; echo err-1 >&2; echo out-2; echo err-2 >&2; printf no-newline"])
        XCTAssertEqual(output, "", "the container's output goes to the logger, not to ctr")

        let lines = try f.logs.tail(containerID: id, lines: 100)
        XCTAssertEqual(lines.filter { $0.stream == .stdout }.map(\.text), ["out-1", "out-2", "no-newline"])
        XCTAssertEqual(lines.filter { $0.stream == .stderr }.map(\.text), ["err-1", "err-2"])
        let records = try RawRecord.read(f.logs.directory(containerID: id) + "/container.log")
        XCTAssertEqual(records.count, 5)
        XCTAssertEqual(records.last(where: { $0.stream == "stdout" })?.tag, "P")
        XCTAssertEqual(loggerProcesses(containerID: id), [], "the logger exited with the task")
    }

    func testLongRunningContainerKeepsLoggingWithNoBerthdAndNoCreator() async throws {
        let f = try await makeFixture(maxFileBytes: 512, maxFiles: 3)
        defer { f.removeImage() }
        let id = "log-long-\(UUID().uuidString.prefix(6).lowercased())"
        defer { f.cleanUp(id) }

        // `ctr run -d` returns once the task started: its creator is gone, and no berthd exists.
        try f.ctr(["run", "-d", "--log-uri", f.logs.uri(containerID: id), f.image, id,
                   "sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.05; done"])
        let loggers = loggerProcesses(containerID: id)
        XCTAssertEqual(loggers.count, 1, "one logger for the task")
        if let logger = loggers.first {
            XCTAssertTrue(parentCommand(of: logger).hasPrefix("containerd-shim"), "started by the shim: \(parentCommand(of: logger))")
            print("berth-logger under the shim: pid \(logger), RSS \(LoggerProcess.residentKiB(pid: logger) ?? -1) KiB")
        }

        func numbers() throws -> [Int] {
            try RawRecord.readAll(f.logs.directory(containerID: id)).map { record in
                XCTAssertEqual(record.stream, "stdout")
                return Int(record.textString.dropFirst("line ".count)) ?? -1
            }
        }
        try await Task.sleep(for: .milliseconds(700))
        let early = try numbers()
        try await Task.sleep(for: .milliseconds(1500))
        let later = try numbers()
        XCTAssertGreaterThan(later.last ?? 0, (early.last ?? 0) + 10, "lines keep coming: \(early.last ?? -1) → \(later.last ?? -1)")
        XCTAssertEqual(later, Array((later.first ?? 0)...(later.last ?? 0)), "no gap across rotations")
        // ~10 lines a file: rotations go on, and never more than 3 rotated files stay.
        var files = try logFiles(f.logs.directory(containerID: id))
        for _ in 0..<100 where files.count < 4 {
            try await Task.sleep(for: .milliseconds(100))
            files = try logFiles(f.logs.directory(containerID: id))
            XCTAssertLessThanOrEqual(files.count, 4, "\(files)")
        }
        XCTAssertEqual(files, ["container.log.3", "container.log.2", "container.log.1", "container.log"])

        // follow sees the live container's new lines, in order, exactly once.
        var followed: [Int] = []
        for try await line in f.logs.follow(containerID: id, tail: 3) {
            followed.append(Int(line.text.dropFirst("line ".count)) ?? -1)
            if followed.count == 30 { break }
        }
        XCTAssertEqual(followed, Array(followed[0]..<(followed[0] + 30)))

        let logger = loggers.first
        try f.ctr(["tasks", "kill", "-s", "KILL", id])
        var deleted = false
        for _ in 0..<100 where !deleted {
            deleted = (try? f.ctr(["tasks", "delete", id])) != nil
            if !deleted { try await Task.sleep(for: .milliseconds(100)) }
        }
        XCTAssertTrue(deleted, "task deleted")
        try f.ctr(["containers", "delete", id])
        var gone = false
        for _ in 0..<150 where !gone {
            gone = loggerProcesses(containerID: id).isEmpty
            if !gone { try await Task.sleep(for: .milliseconds(100)) }
        }
        XCTAssertTrue(gone, "the logger (pid \(logger.map(String.init) ?? "?")) exits once the task's pipes close")
        let final = try numbers()
        XCTAssertEqual(final, Array((final.first ?? 0)...(final.last ?? 0)))
        XCTAssertGreaterThanOrEqual(final.last ?? 0, later.last ?? 0)
        try f.logs.remove(containerID: id)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.logs.directory(containerID: id)))
    }
}

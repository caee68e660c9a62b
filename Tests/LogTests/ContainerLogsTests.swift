import Foundation
import Runtime
import XCTest

/// tail, follow and remove over files the real berth-logger writes.
final class ContainerLogsTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: LoggerProcess.binary) else {
            throw LoggerTestError("berth-logger is not built at \(LoggerProcess.binary)")
        }
        folder = try makeTemporaryDirectory("container-logs")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    private func logs(maxFileBytes: Int64, maxFiles: Int) -> ContainerLogs {
        ContainerLogs(configuration: LogConfiguration(directory: folder, maxFileBytes: maxFileBytes, maxFiles: maxFiles,
                                                      loggerPath: LoggerProcess.binary))
    }

    private func start(_ logs: ContainerLogs, _ id: String = "c") throws -> LoggerProcess {
        try LoggerProcess(arguments: ["dir", logs.directory(containerID: id),
                                      "max-bytes", String(logs.configuration.maxFileBytes),
                                      "max-files", String(logs.configuration.maxFiles)], containerID: id)
    }

    private func finish(_ logger: LoggerProcess) {
        logger.closeStdout()
        logger.closeStderr()
        XCTAssertEqual(logger.waitForExit(seconds: 10), 0)
    }

    /// Consumes `stream` in a task of its own, keeping what arrives.
    private final class Collector: @unchecked Sendable {
        let lines = Locked<[LogLine]>([])
        let ended = Locked<Result<Void, Error>?>(nil)
        var task: Task<Void, Never>!

        init(_ stream: AsyncThrowingStream<LogLine, Error>) {
            task = Task { [lines, ended] in
                do {
                    for try await line in stream { lines.update { $0.append(line) } }
                    ended.update { $0 = .success(()) }
                } catch {
                    ended.update { $0 = .failure(error) }
                }
            }
        }

        var texts: [String] { lines.get().map(\.text) }

        /// Waits until at least `count` lines arrived (or `seconds` passed).
        @discardableResult
        func wait(for count: Int, seconds: Double = 20) async -> [String] {
            let deadline = Date().addingTimeInterval(seconds)
            while lines.get().count < count && Date() < deadline && ended.get() == nil {
                try? await Task.sleep(for: .milliseconds(20))
            }
            return texts
        }

        func waitUntilEnded(seconds: Double = 5) async -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while ended.get() == nil && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            return ended.get() != nil
        }
    }

    func testTailAcrossRotatedFiles() throws {
        let logs = logs(maxFileBytes: 1000, maxFiles: 100)
        let logger = try start(logs)
        let all = (0..<200).map { "line \($0)" }
        for (index, text) in all.enumerated() {
            try logger.write(stdout: text + "\n")
            if index % 10 == 0 { try logger.write(stderr: "err \(index)\n") }
        }
        finish(logger)
        XCTAssertGreaterThan(try logFiles(logs.directory(containerID: "c")).count, 10)

        // The order between the two streams is the order the logger read them in; within a
        // stream it is the order written.
        let stdout = { (lines: [LogLine]) in lines.filter { $0.stream == .stdout }.map(\.text) }
        let everything = try logs.tail(containerID: "c", lines: 1000)
        XCTAssertEqual(everything.count, 220)
        XCTAssertEqual(stdout(everything), all)
        XCTAssertEqual(everything.filter { $0.stream == .stderr }.map(\.text), stride(from: 0, to: 200, by: 10).map { "err \($0)" })
        let last = try logs.tail(containerID: "c", lines: 25)
        XCTAssertEqual(last, Array(everything.suffix(25)))
        XCTAssertEqual(try logs.tail(containerID: "c", lines: 1), [everything.last!])
        XCTAssertEqual(try logs.tail(containerID: "c", lines: 0), [])
        XCTAssertEqual(try logs.tail(containerID: "never-ran", lines: 10), [])
        XCTAssertThrowsError(try logs.tail(containerID: "../c", lines: 10))
    }

    func testTailJoinsPiecesOfALineAcrossFiles() throws {
        // Each 16 KiB piece is a record of its own file: the 50 000-byte line spans four files.
        let logs = logs(maxFileBytes: 17_000, maxFiles: 20)
        let logger = try start(logs)
        let long = String((0..<50_000).map { Character(UnicodeScalar(UInt8(ascii: "a") + UInt8($0 % 26))) })
        // Pauses so that the logger reads (and so writes) the streams in this order.
        try logger.write(stdout: "before\n")
        usleep(50_000)
        try logger.write(stderr: "stderr between\n")
        usleep(50_000)
        try logger.write(stdout: long + "\n")
        usleep(50_000)
        try logger.write(stdout: "after\n")
        finish(logger)
        XCTAssertGreaterThanOrEqual(try logFiles(logs.directory(containerID: "c")).count, 4)

        let summary = { (lines: [LogLine]) in lines.map { $0.text.count > 100 ? "\($0.stream) long \($0.text == long)" : "\($0.stream) \($0.text)" } }
        XCTAssertEqual(summary(try logs.tail(containerID: "c", lines: 2)), ["stdout long true", "stdout after"])
        XCTAssertEqual(summary(try logs.tail(containerID: "c", lines: 10)),
                       ["stdout before", "stderr stderr between", "stdout long true", "stdout after"])
    }

    func testFollowSeesEveryNewLineExactlyOnceAcrossRotations() async throws {
        let logs = logs(maxFileBytes: 2048, maxFiles: 1000)
        let logger = try start(logs)
        let all = (0..<1200).map { "line \($0) " + String(repeating: "=", count: $0 % 40) }
        try logger.write(stdout: all[0..<20].map { $0 + "\n" }.joined())
        try await Task.sleep(for: .milliseconds(200))

        let collector = Collector(logs.follow(containerID: "c", tail: 5))
        let result1 = await collector.wait(for: 5)
        XCTAssertEqual(result1, Array(all[15..<20]))

        // Slow lines, one rotation at a time ...
        for index in 20..<300 {
            try logger.write(stdout: all[index] + "\n")
            if index % 20 == 0 { try await Task.sleep(for: .milliseconds(15)) }
        }
        // ... and a burst: many rotations between two polls.
        try logger.write(stdout: all[300...].map { $0 + "\n" }.joined())
        let texts = await collector.wait(for: 5 + 1180)
        XCTAssertEqual(texts.count, 1185)
        XCTAssertEqual(texts, Array(all[15...]))
        try await Task.sleep(for: .milliseconds(400))
        XCTAssertEqual(collector.texts.count, 1185, "no line twice")
        XCTAssertGreaterThan(try logFiles(logs.directory(containerID: "c")).count, 30)
        collector.task.cancel()
        let result2 = await collector.waitUntilEnded()
        XCTAssertTrue(result2)
        finish(logger)
    }

    func testFollowKeepsUpWithRotationThatDeletesOldFiles() async throws {
        let logs = logs(maxFileBytes: 4096, maxFiles: 3)
        let logger = try start(logs)
        let collector = Collector(logs.follow(containerID: "c", tail: 10))
        try await Task.sleep(for: .milliseconds(200)) // following from the (empty) start
        let all = (0..<600).map { "paced line \($0)" }
        for (index, text) in all.enumerated() {
            try logger.write(stdout: text + "\n")
            // ~4 rotations a second: the follower, polling every 100 ms, has 3 rotations' slack.
            if index % 10 == 9 { try await Task.sleep(for: .milliseconds(40)) }
        }
        let result3 = await collector.wait(for: 600)
        XCTAssertEqual(result3, all)
        XCTAssertEqual(try logFiles(logs.directory(containerID: "c")).count, 4)
        collector.task.cancel()
        finish(logger)
    }

    func testFollowWaitsForTheLogThenStopsWhenTheConsumerStops() async throws {
        let logs = logs(maxFileBytes: 1 << 20, maxFiles: 1)
        let collector = Collector(logs.follow(containerID: "later", tail: 100))
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertEqual(collector.texts, [])

        let logger = try start(logs, "later")
        try logger.write(stdout: "first\n")
        try logger.write(stderr: "second\n")
        let result4 = await collector.wait(for: 2)
        XCTAssertEqual(result4.sorted(), ["first", "second"])
        XCTAssertEqual(Set(collector.lines.get().map(\.stream)), [.stdout, .stderr])

        collector.task.cancel()
        let result5 = await collector.waitUntilEnded()
        XCTAssertTrue(result5, "cancelling the consumer ends the stream")
        finish(logger)
    }

    func testFollowEmitsALastLineWithoutNewline() async throws {
        let logs = logs(maxFileBytes: 1 << 20, maxFiles: 1)
        let logger = try start(logs)
        let collector = Collector(logs.follow(containerID: "c", tail: 0))
        try await Task.sleep(for: .milliseconds(200))
        try logger.write(stdout: "complete\nno newline")
        finish(logger)
        let result6 = await collector.wait(for: 2, seconds: 5)
        XCTAssertEqual(result6, ["complete", "no newline"])
        collector.task.cancel()
    }

    func testFollowEndsWhenTheLogsAreRemoved() async throws {
        let logs = logs(maxFileBytes: 1 << 20, maxFiles: 1)
        let logger = try start(logs)
        try logger.write(stdout: "one\n")
        finish(logger)
        let collector = Collector(logs.follow(containerID: "c", tail: 10))
        let result7 = await collector.wait(for: 1)
        XCTAssertEqual(result7, ["one"])
        try logs.remove(containerID: "c")
        XCTAssertFalse(FileManager.default.fileExists(atPath: logs.directory(containerID: "c")))
        let result8 = await collector.waitUntilEnded()
        XCTAssertTrue(result8)
        try logs.remove(containerID: "c") // nothing left: not an error
        XCTAssertThrowsError(try logs.remove(containerID: ".."))
    }

    /// The end signal stops a follow that no file change would stop: one waiting for a log that
    /// never comes, and one idle at the end of a log that stays.
    func testFollowEndsWhenItsEndSignalFinishes() async throws {
        let logs = logs(maxFileBytes: 1 << 20, maxFiles: 1)
        let (neverEnded, endNever) = AsyncStream<Void>.makeStream()
        let waiting = Collector(logs.follow(containerID: "never", tail: 10, until: neverEnded))
        let logger = try start(logs)
        try logger.write(stdout: "one\n")
        finish(logger)
        let (idleEnded, endIdle) = AsyncStream<Void>.makeStream()
        let idle = Collector(logs.follow(containerID: "c", tail: 10, until: idleEnded))
        let lines = await idle.wait(for: 1)
        XCTAssertEqual(lines, ["one"])
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertNil(waiting.ended.get())
        XCTAssertNil(idle.ended.get())

        endNever.finish()
        endIdle.finish()
        let waitingEnded = await waiting.waitUntilEnded()
        let idleEnded2 = await idle.waitUntilEnded()
        XCTAssertTrue(waitingEnded, "a follow waiting for its log ends with its signal")
        XCTAssertTrue(idleEnded2, "an idle follow ends with its signal")
        if case .failure(let error) = idle.ended.get() { XCTFail("ended with \(error)") }
    }

    func testLogLineIsCodable() throws {
        let line = LogLine(time: Date(timeIntervalSince1970: 1_700_000_000.25), stream: .stderr, text: "hé")
        let decoded = try JSONDecoder().decode(LogLine.self, from: JSONEncoder().encode(line))
        XCTAssertEqual(decoded, line)
    }

    func testDefaultLoggerPathIsNextToTheExecutable() throws {
        let configuration = LogConfiguration(directory: "/var/lib/berth/logs")
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        XCTAssertEqual(configuration.loggerPath,
                       URL(fileURLWithPath: executable).deletingLastPathComponent().path + "/berth-logger")
        XCTAssertEqual(configuration.maxFileBytes, 10 << 20)
        XCTAssertEqual(configuration.maxFiles, 3)
    }
}

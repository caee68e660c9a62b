import Foundation
import Runtime
import XCTest

/// berth-logger run directly, wired the way containerd's shim wires it.
final class BerthLoggerTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: LoggerProcess.binary) else {
            throw LoggerTestError("berth-logger is not built at \(LoggerProcess.binary)")
        }
        folder = try makeTemporaryDirectory("berth-logger")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    private func logs(maxFileBytes: Int64 = 10 << 20, maxFiles: Int = 3) -> ContainerLogs {
        ContainerLogs(configuration: LogConfiguration(directory: folder, maxFileBytes: maxFileBytes, maxFiles: maxFiles,
                                                      loggerPath: LoggerProcess.binary))
    }

    private func start(_ id: String = "c", maxBytes: Int64? = nil, maxFiles: Int? = nil) throws -> LoggerProcess {
        var arguments = ["dir", folder + "/" + id]
        if let maxBytes { arguments += ["max-bytes", String(maxBytes)] }
        if let maxFiles { arguments += ["max-files", String(maxFiles)] }
        return try LoggerProcess(arguments: arguments, containerID: id, errorLog: folder + "/\(id).stderr")
    }

    private func finish(_ logger: LoggerProcess, file: StaticString = #filePath, line: UInt = #line) {
        logger.closeStdout()
        logger.closeStderr()
        XCTAssertEqual(logger.waitForExit(seconds: 10), 0, "berth-logger exit status", file: file, line: line)
    }

    func testWritesCRIRecordsForBothStreams() throws {
        let before = Date()
        let logger = try start()
        XCTAssertEqual(logger.readyByte, 0)
        try logger.write(stdout: "hello\n")
        try logger.write(stderr: "oops\n")
        try logger.write(stdout: "world\n\n")
        try logger.write(stdout: "tab\tand trailing space \n")
        finish(logger)

        let records = try RawRecord.read(folder + "/c/container.log")
        XCTAssertEqual(records.filter { $0.stream == "stdout" }.map(\.textString), ["hello", "world", "", "tab\tand trailing space "])
        XCTAssertEqual(records.filter { $0.stream == "stderr" }.map(\.textString), ["oops"])
        XCTAssertEqual(Set(records.map(\.tag)), ["F"])

        let lines = try logs().tail(containerID: "c", lines: 10)
        XCTAssertEqual(lines.count, 5)
        for line in lines {
            XCTAssertGreaterThanOrEqual(line.time.timeIntervalSince(before), -1)
            XCTAssertLessThanOrEqual(line.time.timeIntervalSinceNow, 1)
        }
        XCTAssertEqual(lines.filter { $0.stream == .stderr }.map(\.text), ["oops"])
    }

    func testLongLinesBecomePartialRecordsAndALastLineWithoutNewlineIsPartial() throws {
        let logger = try start()
        let long = (0..<40_000).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        // In pieces, so that the logger sees the line over several reads.
        for start in stride(from: 0, to: long.count, by: 7_000) {
            try logger.write(stdout: long[start..<min(start + 7_000, long.count)])
            usleep(5_000)
        }
        try logger.write(stdout: "\n")
        try logger.write(stdout: String(repeating: "b", count: 16 * 1024) + "\n")
        try logger.write(stdout: "no newline at the end")
        finish(logger)

        let records = try RawRecord.read(folder + "/c/container.log")
        XCTAssertEqual(records.map(\.tag), ["P", "P", "F", "F", "P"])
        XCTAssertEqual(records.map(\.text.count), [16_384, 16_384, 40_000 - 32_768, 16_384, 21])
        XCTAssertEqual(records[0].text + records[1].text + records[2].text, long)

        let lines = try logs().tail(containerID: "c", lines: 10)
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines.first?.text == String(decoding: long, as: UTF8.self), "pieces joined")
        XCTAssertTrue(lines.dropFirst().first?.text == String(repeating: "b", count: 16 * 1024), "exactly 16 KiB is one F record")
        XCTAssertEqual(lines.last?.text, "no newline at the end")
    }

    func testInvalidUTF8IsKeptAndNeverStopsTheLogger() throws {
        let logger = try start()
        try logger.write(stdout: [0xff, 0xfe, UInt8(ascii: "A"), 0xc3, 0x28, UInt8(ascii: "\n")])
        // A two-byte character cut by the 16 KiB boundary: the pieces join before decoding.
        try logger.write(stdout: Array(String(repeating: "x", count: 16_383).utf8) + Array("é and more\n".utf8))
        try logger.write(stderr: [0x80, 0x80, UInt8(ascii: "\n")])
        try logger.write(stdout: "still alive\n")
        finish(logger)

        let records = try RawRecord.read(folder + "/c/container.log")
        XCTAssertEqual(records.first?.text, [0xff, 0xfe, UInt8(ascii: "A"), 0xc3, 0x28], "bytes are kept as written")
        let stdout = try logs().tail(containerID: "c", lines: 10).filter { $0.stream == .stdout }.map(\.text)
        XCTAssertEqual(stdout.count, 3)
        XCTAssertEqual(stdout.first, "\u{FFFD}\u{FFFD}A\u{FFFD}(")
        XCTAssertTrue(stdout.dropFirst().first == String(repeating: "x", count: 16_383) + "é and more",
                      "a character cut between two pieces decodes once they are joined: \(stdout.dropFirst().first?.suffix(20) ?? "")")
        XCTAssertEqual(stdout.last, "still alive")
    }

    func testRotationKeepsAtMostMaxFiles() throws {
        let logger = try start(maxBytes: 1024, maxFiles: 2)
        for batch in 0..<30 {
            try logger.write(stdout: (0..<10).map { "line \(String(format: "%04d", batch * 10 + $0))\n" }.joined())
            usleep(1_000)
        }
        finish(logger)

        XCTAssertEqual(try logFiles(folder + "/c"), ["container.log.2", "container.log.1", "container.log"])
        for name in try logFiles(folder + "/c") {
            let size = try FileManager.default.attributesOfItem(atPath: folder + "/c/" + name)[.size] as? Int ?? -1
            XCTAssertLessThanOrEqual(size, 1024, name)
            XCTAssertGreaterThan(size, 0, name)
        }
        let texts = try RawRecord.readAll(folder + "/c").map(\.textString)
        let all = (0..<300).map { "line \(String(format: "%04d", $0))" }
        XCTAssertEqual(texts, Array(all.suffix(texts.count)), "the kept files hold the newest lines, in order")
        XCTAssertGreaterThan(texts.count, 30)
    }

    func testRotationLosesNoLineWhenMaxFilesIsLargeEnough() throws {
        let logger = try start(maxBytes: 2048, maxFiles: 500)
        let all = (0..<1000).map { "line \($0) " + String(repeating: "z", count: $0 % 50) }
        for chunk in stride(from: 0, to: all.count, by: 37) {
            try logger.write(stdout: all[chunk..<min(chunk + 37, all.count)].map { $0 + "\n" }.joined())
            try logger.write(stderr: "err \(chunk)\n")
        }
        finish(logger)

        let files = try logFiles(folder + "/c")
        XCTAssertGreaterThan(files.count, 20)
        let records = try RawRecord.readAll(folder + "/c")
        XCTAssertEqual(records.filter { $0.stream == "stdout" }.map(\.textString), all)
        XCTAssertEqual(records.filter { $0.stream == "stderr" }.count, 28)
    }

    func testAppendsToTheLogOfAnEarlierRun() throws {
        let first = try start()
        try first.write(stdout: "first run\n")
        finish(first)
        let second = try start()
        try second.write(stdout: "second run\n")
        finish(second)
        XCTAssertEqual(try logs().tail(containerID: "c", lines: 5).map(\.text), ["first run", "second run"])
    }

    func testSignalsReadinessOnFD5AfterOpeningTheLog() throws {
        var startups: [Duration] = []
        for index in 0..<15 {
            let logger = try start("ready\(index)")
            XCTAssertEqual(logger.readyByte, 0, "a byte on fd 5, then fd 5 closed")
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/ready\(index)/container.log"),
                          "the log file exists once the logger is ready")
            startups.append(logger.startup)
            finish(logger)
        }
        startups.sort()
        let median = startups[startups.count / 2]
        print("berth-logger startup (spawn to readiness on fd 5): median \(median), min \(startups[0]), max \(startups.last!)")
        XCTAssertLessThan(median, .milliseconds(200))
    }

    func testResidentMemoryStaysSmallUnderLoad() throws {
        let logger = try start(maxBytes: 256 * 1024, maxFiles: 2)
        let idle = logger.residentKiB ?? -1
        let block = Array(String(repeating: "0123456789abcdef", count: 4096).utf8) + [UInt8(ascii: "\n")] // 64 KiB lines
        for _ in 0..<200 { try logger.write(stdout: block) } // 12.5 MiB through a 256 KiB rotation
        let busy = logger.residentKiB ?? -1
        print("berth-logger RSS: \(idle) KiB after start, \(busy) KiB after 12.5 MiB of 64 KiB lines")
        XCTAssertLessThan(busy, 32 * 1024)
        XCTAssertLessThan(busy - idle, 4 * 1024, "memory does not grow with the volume logged")
        finish(logger)
    }

    func testExitsZeroOnlyOnceBothStreamsAreClosed() throws {
        let logger = try start()
        try logger.write(stdout: "out\n")
        try logger.write(stderr: "err\n")
        logger.closeStdout()
        usleep(300_000)
        XCTAssertTrue(logger.isRunning, "stderr is still open")
        try logger.write(stderr: "err after stdout closed\n")
        logger.closeStderr()
        XCTAssertEqual(logger.waitForExit(seconds: 10), 0)
        XCTAssertEqual(try RawRecord.read(folder + "/c/container.log").map(\.textString).sorted(),
                       ["err", "err after stdout closed", "out"])
    }

    func testSIGTERMWritesWhatThePipesHoldAndExits() throws {
        // As the shim does on task delete: close its ends of the pipes, then SIGTERM at once.
        let closed = try start("closed")
        let lines = (0..<2000).map { "closed \($0)" }
        try closed.write(stdout: lines.map { $0 + "\n" }.joined())
        try closed.write(stdout: "partial")
        closed.closeStdout()
        closed.closeStderr()
        closed.signal(SIGTERM)
        XCTAssertEqual(closed.waitForExit(seconds: 10), 0)
        XCTAssertEqual(try RawRecord.read(folder + "/closed/container.log").map(\.textString), lines + ["partial"])

        // A writer that keeps its end open (a process the shim could not close): gone soon after
        // the pipes fall quiet.
        let open = try start("open")
        try open.write(stdout: "before term\n")
        usleep(100_000)
        let signalled = Date()
        open.signal(SIGTERM)
        XCTAssertEqual(open.waitForExit(seconds: 10), 0)
        XCTAssertLessThan(Date().timeIntervalSince(signalled), 3)
        XCTAssertEqual(try RawRecord.read(folder + "/open/container.log").map(\.textString), ["before term"])
    }

    func testArgumentsInAnyOrderAndForm() throws {
        let forms: [[String]] = [
            ["max-files", "1", "dir", "DIR", "max-bytes", "200"],
            ["max-bytes", "200", "max-files", "1", "dir", "DIR"],
            ["--dir=DIR", "", "--max-bytes=200", "", "--max-files=1", ""],
            ["--max-files", "1", "--dir", "DIR", "--max-bytes", "200"],
        ]
        for (index, form) in forms.enumerated() {
            let directory = folder + "/form\(index)"
            let logger = try LoggerProcess(arguments: form.map { $0.replacingOccurrences(of: "DIR", with: directory) })
            XCTAssertEqual(logger.readyByte, 0, "\(form)")
            for number in 0..<20 { try logger.write(stdout: "form \(index) line \(number)\n") }
            finish(logger)
            XCTAssertEqual(try logFiles(directory), ["container.log.1", "container.log"], "\(form)")
            let size = try FileManager.default.attributesOfItem(atPath: directory + "/container.log")[.size] as? Int ?? -1
            XCTAssertLessThanOrEqual(size, 200, "\(form)")
        }
    }

    func testBadArgumentsExitWithStatus2() throws {
        for arguments in [[], ["dir"], ["dir", "relative/path"], ["dir", folder + "/x", "max-bytes", "0"],
                          ["dir", folder + "/x", "max-files", "-1"], ["dir", folder + "/x", "colour", "blue"]] {
            let logger = try LoggerProcess(arguments: arguments, errorLog: folder + "/bad.stderr")
            XCTAssertNil(logger.readyByte, "\(arguments): fd 5 closed without a byte")
            XCTAssertEqual(logger.waitForExit(seconds: 10), 2, "\(arguments)")
        }
        let message = try String(contentsOfFile: folder + "/bad.stderr", encoding: .utf8)
        XCTAssertTrue(message.contains("usage: berth-logger"), message)
    }

    /// The URI ContainerLogs gives containerd, turned into argv the way containerd does it.
    func testTheURIOfContainerLogsStartsTheLogger() throws {
        let logs = logs(maxFileBytes: 300, maxFiles: 1)
        let uri = logs.uri(containerID: "from-uri")
        let components = try XCTUnwrap(URLComponents(string: uri))
        XCTAssertEqual(components.scheme, "binary")
        XCTAssertEqual(components.path, LoggerProcess.binary)
        // containerd: for k, vs := range uri.Query() { args = append(args, k, vs[0]) }, map order.
        let arguments = try XCTUnwrap(components.queryItems).shuffled().flatMap { [$0.name, $0.value ?? ""] }
        let logger = try LoggerProcess(arguments: arguments, containerID: "from-uri")
        XCTAssertEqual(logger.readyByte, 0)
        for number in 0..<20 { try logger.write(stdout: "uri line \(number)\n") }
        finish(logger)
        XCTAssertEqual(try logFiles(logs.directory(containerID: "from-uri")), ["container.log.1", "container.log"])
        XCTAssertEqual(try logs.tail(containerID: "from-uri", lines: 1).map(\.text), ["uri line 19"])
    }

    func testTheURIEscapesAwkwardPaths() throws {
        let logs = ContainerLogs(configuration: LogConfiguration(directory: "/var/lib/berth data/logs&x=1+2",
                                                                 loggerPath: "/opt/berth bin/berth-logger"))
        let uri = logs.uri(containerID: "abc")
        let components = try XCTUnwrap(URLComponents(string: uri))
        XCTAssertEqual(components.path, "/opt/berth bin/berth-logger")
        let query = Dictionary(uniqueKeysWithValues: try XCTUnwrap(components.queryItems).map { ($0.name, $0.value ?? "") })
        XCTAssertEqual(query, ["dir": "/var/lib/berth data/logs&x=1+2/abc", "max-bytes": "10485760", "max-files": "3"])
        XCTAssertFalse(uri.contains("+"), "Go's query parser reads + as a space")
    }
}

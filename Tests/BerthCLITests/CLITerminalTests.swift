import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// A deploy of a multi-layer image, pulled slowly through a throttled registry address: under a
/// pseudo-terminal its phases are redrawn live with layers and bytes; without one the same
/// deploy prints one plain line per phase.
final class CLITerminalTests: XCTestCase {
    func testADeployShowsLiveProgressOnATerminalAndPlainLinesOtherwise() async throws {
        let env = try TestEnvironment.current()
        // About 3 s a pull: 3 incompressible layers of 3 MB at 3 MB/s.
        let forwarder = try ThrottledForwarder(to: env.registry, bytesPerSecond: 3 << 20)
        defer { forwarder.stop() }
        let slowRegistry = "127.0.0.1:\(forwarder.port)"
        let f = try NodeFixture { $0.insecureRegistries.append(slowRegistry) }
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let berth = BerthBinary(home: try f.env.makeTemporaryDirectory("cli-tty"))
        let token = try await f.token("alice")

        // Seeds of this run: layers a content store already holds (shared across namespaces)
        // would not be downloaded, and there would be no progress to show.
        let run = UInt64.random(in: 1...(UInt64.max / 2))
        var layers = [TestLayer.busybox(extraFiles: ["/www/index.html": "layered\n"])]
        for index in 1...3 {
            layers.append(TestLayer.random(bytes: 3 << 20, path: "/data/blob\(index)", seed: run + UInt64(index)).compressed(.none))
        }
        let image = TestImage(layers: layers, cmd: ["sh", "-c", "exec httpd -f -p $PORT -h /www"])
        for (tag, name) in [("tty", "shown"), ("plain", "plain")] {
            // A distinct first random layer per tag, so the second deploy downloads too.
            var tagged = image
            tagged.layers[1] = TestLayer.random(bytes: 3 << 20, path: "/data/\(name)", seed: run + UInt64(tag.count + 10)).compressed(.none)
            _ = try await TestRegistry.push(tagged, to: env.registry, repository: "berth/cli-layers", tag: tag)
        }
        let login = try await berth.run(["login", "http://127.0.0.1:\(f.port)", "--token", token])
        XCTAssertEqual(login.status, 0, login.stderr)

        let shown = try await berth.runOnTerminal(["deploy", "shown", "--image", "\(slowRegistry)/berth/cli-layers:tty", "--port", "8080"])
        XCTAssertEqual(shown.status, 0, shown.stdout)
        let screen = shown.stdout
        XCTAssertTrue(screen.contains("\r\u{1B}[2K"), "the live line is redrawn in place: \(screen.debugDescription)")
        let live = screen.components(separatedBy: "\r\u{1B}[2K").filter { $0.contains("pulling") && $0.contains("layers") }
        XCTAssertGreaterThan(live.count, 2, "several progress lines while pulling: \(screen.debugDescription)")
        XCTAssertTrue(live.contains { $0.contains("/4 layers") }, "layers done of 4: \(live)")
        XCTAssertTrue(live.contains { $0.range(of: #"[0-9.]+ MB / [0-9.]+ MB"#, options: .regularExpression) != nil }, "bytes: \(live)")
        XCTAssertTrue(screen.contains("✓\u{1B}[0m pulled"), screen.debugDescription)
        XCTAssertTrue(screen.contains("✓\u{1B}[0m ready"), screen.debugDescription)
        XCTAssertTrue(screen.contains("\u{1B}[32m"), "colour on a terminal: \(screen.debugDescription)")
        XCTAssertTrue(screen.contains("http://shown.localhost:\(f.configuration.proxyListen.port)"), screen)

        let plain = try await berth.run(["deploy", "plain", "--image", "\(slowRegistry)/berth/cli-layers:plain", "--port", "8080"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertFalse(plain.stderr.contains("\u{1B}") || plain.stderr.contains("\r"), plain.stderr.debugDescription)
        let lines = plain.stderr.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "deploying revision 1 of plain", plain.stderr)
        XCTAssertTrue(lines.contains("pulling \(slowRegistry)/berth/cli-layers:plain"), plain.stderr)
        XCTAssertTrue(lines.contains { $0.hasPrefix("pulled \(slowRegistry)/berth/cli-layers:plain: 4 layers, ") }, plain.stderr.debugDescription)
        XCTAssertTrue(lines.contains("starting"), plain.stderr)
        XCTAssertEqual(lines.last, "ready", plain.stderr)
        XCTAssertEqual(Set(lines).count, lines.count, "one line per phase: \(lines)")

        // NO_COLOR keeps a terminal's output free of colour.
        var uncoloured = berth
        uncoloured.environment["NO_COLOR"] = "1"
        let ls = try await uncoloured.runOnTerminal(["ls"])
        XCTAssertFalse(ls.stdout.contains("\u{1B}["), ls.stdout.debugDescription)
        let coloured = try await berth.runOnTerminal(["ls"])
        XCTAssertTrue(coloured.stdout.contains("\u{1B}[32mrunning"), coloured.stdout.debugDescription)
    }
}

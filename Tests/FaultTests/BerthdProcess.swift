import Daemon
import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// The built berthd run as a process of its own on a NodeFixture's namespace, data folder,
/// bridge and subnet, so a test can SIGKILL it and start it again on the same state.
final class BerthdProcess: @unchecked Sendable {
    let fixture: NodeFixture
    let apiPort: Int
    let proxyPort: Int
    /// Flags after the fixture's (idle timers, grace period…).
    let extraArguments: [String]
    private(set) var process: Process?
    private(set) var starts = 0

    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("berthd").path
    }

    var logFile: String { fixture.configuration.dataDirectory + "/berthd.log" }

    init(_ fixture: NodeFixture, extraArguments: [String] = []) throws {
        self.fixture = fixture
        self.extraArguments = extraArguments
        // The fixture's own ports: NodeFixture.invoke goes to configuration.proxyListen.
        apiPort = fixture.configuration.apiListen.port
        proxyPort = fixture.configuration.proxyListen.port
        fixture.setPortForExternalNode(apiPort)
    }

    var arguments: [String] {
        let c = fixture.configuration
        return ["serve", "--containerd-socket", c.containerdSocket, "--namespace", c.namespace,
                "--data-dir", c.dataDirectory, "--jwt-secret-file", fixture.secretFile,
                "--api-listen", "127.0.0.1:\(apiPort)", "--proxy-listen", "127.0.0.1:\(proxyPort)",
                "--cni-bridge", c.cniBridge, "--cni-subnet", c.cniSubnet, "--insecure-registry", fixture.env.registry,
                "--node-cpu", "64", "--log-level", "info"] + extraArguments
    }

    /// Starts berthd (appending to its log) and waits until /readyz answers 200: its API serves
    /// and recovery is done.
    func start(timeout: Duration = .seconds(30)) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        if !FileManager.default.fileExists(atPath: logFile) {
            FileManager.default.createFile(atPath: logFile, contents: nil)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        log.seekToEndOfFile()
        log.write(Data("---- start \(starts + 1) at \(Date())\n".utf8))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()
        self.process = process
        starts += 1
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw TestSupportError("berthd exited (\(process.terminationStatus)) during start \(starts); log ends:\n\(logTail())")
            }
            if (try? await fixture.request("GET", "/readyz").status) == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestSupportError("berthd did not become ready within \(timeout) (start \(starts)); log ends:\n\(logTail())")
    }

    /// SIGKILL, as a crash or the OOM killer would: no cleanup runs.
    func kill() {
        guard let process, process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, a clean stop; returns the exit status.
    @discardableResult
    func stop() -> Int32? {
        guard let process, process.isRunning else { return nil }
        Foundation.kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        return process.terminationStatus
    }

    func restart() async throws {
        kill()
        try await start()
    }

    func logTail(lines: Int = 30) -> String {
        let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// The log's size now, for `logLines(since:)`.
    func logLength() -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: logFile))?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    /// What berthd logged since `offset` (its last `lines` lines, API reads left out): what a failed
    /// step's report shows.
    func logLines(since offset: UInt64, lines: Int = 80) -> String {
        guard let handle = FileHandle(forReadingAtPath: logFile) else { return "" }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        return text.split(separator: "\n").filter { !$0.contains("[API] GET") }.suffix(lines).joined(separator: "\n")
    }

    /// berthd's resident set, in bytes.
    var rss: Int {
        guard let process, process.isRunning,
              let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int(line.split(separator: " ")[1]) else { return 0 }
        return kib * 1024
    }

    /// Deletes what the test's containers left (a test that failed half-way), stops berthd and
    /// removes the bridge and its policy chains.
    func tearDown(token: String) async {
        if process?.isRunning == true,
           let list = try? await fixture.request("GET", "/v1/containers?all=true", token: token).json()["containers"] as? [[String: Any]] {
            for container in list {
                if let id = container["id"] as? String {
                    _ = try? await fixture.request("DELETE", "/v1/containers/\(id)", token: token)
                }
            }
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                let left = (try? await fixture.request("GET", "/v1/containers?all=true", token: token).json()["containers"] as? [[String: Any]]) ?? []
                if left.isEmpty { break }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        stop()
        _ = try? runCommand("/sbin/ip", ["link", "delete", fixture.configuration.cniBridge])
        try? await Node.removeNetworkPolicy(bridge: fixture.configuration.cniBridge)
    }
}

import Foundation
import OCI
import TestSupport
import XCTest

/// `berthd image pull` as operators run it: the built binary, its output and exit status.
final class ImagePullCommandTests: XCTestCase {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The berthd binary next to this test bundle in the build folder.
    static var berthd: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("berthd").path
    }

    func berthd(_ arguments: [String]) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.berthd)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                       stderr: String(decoding: stderr, as: UTF8.self))
    }

    func pull(_ env: TestEnvironment, namespace: String, _ extra: [String]) throws -> Outcome {
        try berthd(["image", "pull", "--containerd-socket", env.containerdSocket, "--namespace", namespace,
                    "--insecure-registry", env.registry, "--insecure-registry", env.basicAuthRegistry] + extra)
    }

    /// A failure is exactly one line on stderr, non-zero status.
    func assertFailure(_ outcome: Outcome, mentions text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(outcome.status, 0, file: file, line: line)
        let lines = outcome.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "stderr: \(outcome.stderr)", file: file, line: line)
        XCTAssertTrue(outcome.stderr.lowercased().contains(text.lowercased()), "stderr: \(outcome.stderr)", file: file, line: line)
    }

    func testPullPrintsProgressAndTheDigestAndCtrRunsTheImage() async throws {
        let env = try TestEnvironment.current()
        let namespace = "berth-cli-\(UUID().uuidString.prefix(8).lowercased())"
        let pushed = try await TestRegistry.push(TestImage(layers: [.busybox(), .files(["/hello": "hi\n"])]),
                                                 to: env.registry, repository: "berth/cli", tag: "1")
        let outcome = try pull(env, namespace: namespace, [pushed.reference])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        let lines = outcome.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.last, "pulled \(pushed.reference) \(pushed.digest)")
        XCTAssertTrue(lines.contains { $0.hasPrefix(pushed.layers[1].digest.short) && $0.contains("unpacked") }, outcome.stdout)

        let ctr = ["--address", env.containerdSocket, "-n", namespace]
        XCTAssertTrue(try runCommand("/usr/bin/ctr", ctr + ["images", "ls", "-q"]).contains(pushed.reference))
        XCTAssertEqual(try runCommand("/usr/bin/ctr", ctr + ["run", "--rm", pushed.reference, "cli-run", "cat", "/hello"]), "hi\n")
        try runCommand("/usr/bin/ctr", ctr + ["images", "rm", "--sync", pushed.reference])
    }

    func testEveryFailureIsOneLineAndNonZero() async throws {
        let env = try TestEnvironment.current()
        let namespace = "berth-cli-\(UUID().uuidString.prefix(8).lowercased())"
        let pushed = try await TestRegistry.push(TestImage(layers: [.files(["/x": "x\n"]), .random(bytes: 64 << 10, seed: .random(in: 1...UInt64.max))]),
                                                 to: env.registry, repository: "berth/cli-errors", tag: "1")
        let secret = try await TestRegistry.push(TestImage(layers: [.files(["/y": "y\n"])]), to: env.basicAuthRegistry,
                                                 repository: "berth/cli-secret", tag: "1", credentials: env.credentials)

        assertFailure(try pull(env, namespace: namespace, ["\(env.registry)/berth/cli-errors"]), mentions: "no tag or digest")
        assertFailure(try pull(env, namespace: namespace, ["\(env.registry)/Berth/Bad:1"]), mentions: "invalid image reference")
        assertFailure(try pull(env, namespace: namespace, ["\(env.registry)/berth/cli-errors:404"]), mentions: "manifest unknown")
        assertFailure(try pull(env, namespace: namespace, [secret.reference]), mentions: "unauthorized")
        assertFailure(try pull(env, namespace: namespace, ["--insecure-registry", "127.0.0.1:9", "127.0.0.1:9/berth/x:1"]), mentions: "cannot reach registry")
        assertFailure(try berthd(["image", "pull", "--containerd-socket", "/nonexistent/containerd.sock", pushed.reference]),
                      mentions: "cannot reach containerd")

        // With credentials from a Docker config.json the same pull works.
        let configDir = try env.makeTemporaryDirectory("docker-config")
        let auth = Data("\(env.username):\(env.password)".utf8).base64EncodedString()
        try #"{"auths":{"\#(env.basicAuthRegistry)":{"auth":"\#(auth)"}}}"#.write(toFile: configDir + "/config.json", atomically: true, encoding: .utf8)
        let authorized = try pull(env, namespace: namespace, ["--docker-config", configDir + "/config.json", secret.reference])
        XCTAssertEqual(authorized.status, 0, authorized.stderr)

        // A blob whose bytes do not match its digest.
        let path = TestRegistry.blobPath(registryRoot: env.registryRoot, digest: pushed.layers[1].digest)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        var corrupted = original
        corrupted[0] ^= 0x01
        try corrupted.write(to: URL(fileURLWithPath: path))
        defer { try? original.write(to: URL(fileURLWithPath: path)) }
        assertFailure(try pull(env, namespace: namespace, [pushed.reference]), mentions: "digest")
    }
}

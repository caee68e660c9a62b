import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// The real `berth` binary against a real node (containerd, CNI, the registry): login, deploy,
/// update, rollback, logs, JSON and YAML output, refusals, removal.
final class CLINodeTests: XCTestCase {
    /// busybox httpd serving `page` at / and /cgi-bin/log, which writes its query to the
    /// container's standard error (busybox hands a CGI httpd's own stderr).
    static func pushLoggingHTTPD(_ f: NodeFixture, tag: String, page: String) async throws -> String {
        let script = "#!/bin/sh\necho \"logged $QUERY_STRING\" >&2\nprintf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'\n"
        let layer = TestLayer.busybox(extraFiles: ["/www/index.html": page]).adding("/www/cgi-bin/log", contents: script, mode: 0o755)
        let image = TestImage(layers: [layer], cmd: ["sh", "-c", "exec httpd -f -p $PORT -h /www"])
        return try await TestRegistry.push(image, to: f.env.registry, repository: "berth/cli-web", tag: tag).reference
    }

    static func expectPage(_ f: NodeFixture, _ page: String, file: StaticString = #filePath, line: UInt = #line) async throws {
        let reply = try await f.invoke("web.localhost")
        XCTAssertEqual(reply.text, page, file: file, line: line)
    }

    func testDeployUpdateRollbackLogsAndRemoveThroughTheCommandLine() async throws {
        let f = try NodeFixture()
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let home = try f.env.makeTemporaryDirectory("cli-home")
        let berth = BerthBinary(home: home)
        let url = "http://127.0.0.1:\(f.port)"
        let token = try await f.token("alice")
        let first = try await Self.pushLoggingHTTPD(f, tag: "1", page: "page one\n")
        let second = try await Self.pushLoggingHTTPD(f, tag: "2", page: "page two\n")

        // Not logged in, then a token the node refuses: nothing is saved.
        assertOneLineFailure(try await berth.run(["ls"]), status: 2, containing: "berth login")
        assertOneLineFailure(try await berth.run(["login", url, "--token", "not-a-jwt"]), status: 4, containing: "refused the token")
        let config = home + "/.config/berth/config.toml"
        XCTAssertFalse(FileManager.default.fileExists(atPath: config))

        let login = try await berth.run(["login", url, "--token", token])
        XCTAssertEqual(login.status, 0, login.stderr)
        XCTAssertTrue(login.stdout.contains("as alice"), login.stdout)
        let mode = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: config)[.posixPermissions] as? Int)
        XCTAssertEqual(mode & 0o777, 0o600)
        XCTAssertTrue(try String(contentsOfFile: config, encoding: .utf8).contains(token))

        // Create: plain phase lines on standard error (no terminal), the URL on standard output.
        let created = try await berth.run(["deploy", "web", "--image", first, "--port", "8080", "--ram", "64Mi", "--env", "GREETING=hi"])
        XCTAssertEqual(created.status, 0, created.stderr)
        XCTAssertEqual(created.stdout, "http://web.localhost:\(f.configuration.proxyListen.port)\n")
        XCTAssertFalse(created.stderr.contains("\u{1B}"), "no control characters without a terminal: \(created.stderr)")
        XCTAssertTrue(created.stderr.contains("deploying revision 1 of web\n"), created.stderr)
        XCTAssertTrue(created.stderr.hasSuffix("ready\n"), created.stderr)
        try await Self.expectPage(f, "page one\n")

        // Update with one flag: a new revision; the environment is kept.
        let updated = try await berth.run(["deploy", "web", "--image", second])
        XCTAssertEqual(updated.status, 0, updated.stderr)
        XCTAssertTrue(updated.stderr.contains("revision 2 of web"), updated.stderr)
        try await Self.expectPage(f, "page two\n")
        let described = try await berth.run(["describe", "web", "-o", "json"])
        XCTAssertEqual(described.status, 0, described.stderr)
        let container = try XCTUnwrap(try described.json["container"] as? [String: Any])
        XCTAssertEqual(container["revision"] as? Int, 2)
        XCTAssertEqual(container["env"] as? [String: String], ["GREETING": "hi"])
        XCTAssertEqual((try described.json["revisions"] as? [[String: Any]])?.count, 2)
        let people = try await berth.run(["describe", "web"])
        XCTAssertTrue(people.stdout.contains("URL:") && people.stdout.contains("Revisions:"), people.stdout)

        // Scripts: JSON and YAML as the node sent them.
        let listed = try await berth.run(["ls", "-o", "json"])
        let containers = try XCTUnwrap(try listed.json["containers"] as? [[String: Any]])
        XCTAssertEqual(containers.map { $0["name"] as? String }, ["web"])
        let yaml = try await berth.run(["ls", "-o", "yaml"])
        XCTAssertTrue(yaml.stdout.contains("name: web") && yaml.stdout.contains("port: '8080'"), yaml.stdout)
        let table = try await berth.run(["ls"])
        XCTAssertTrue(table.stdout.hasPrefix("NAME") && table.stdout.contains("web"), table.stdout)
        let revisions = try await berth.run(["revisions", "web", "-o", "json"])
        XCTAssertEqual((try revisions.json["revisions"] as? [[String: Any]])?.map { $0["status"] as? String }, ["active", "retired"])

        // Roll back: a third revision with revision 1's spec, its image pinned to the digest.
        let rolled = try await berth.run(["rollback", "web"])
        XCTAssertEqual(rolled.status, 0, rolled.stderr)
        try await Self.expectPage(f, "page one\n")
        let afterRollback = try await berth.run(["revisions", "web", "-o", "json"])
        let newest = try XCTUnwrap((try afterRollback.json["revisions"] as? [[String: Any]])?.first)
        XCTAssertEqual(newest["revision"] as? Int, 3)
        XCTAssertTrue((newest["image"] as? String)?.hasPrefix(first + "@sha256:") ?? false, "\(newest)")

        // Follow the logs: a line written after the follow started arrives. The follow connects
        // at its own pace, so lines are written until one arrives (with --tail 0, only a line
        // written after it connected can).
        _ = try await f.invoke("web.localhost", "/cgi-bin/log?before-follow")
        let (follower, output) = try berth.start(["logs", "web", "-f", "--tail", "0"])
        defer { if follower.isRunning { follower.terminate() } }
        let deadline = ContinuousClock.now + .seconds(30)
        var seen = ""
        var written = 0
        while ContinuousClock.now < deadline, !seen.contains("logged marker-") {
            written += 1
            _ = try await f.invoke("web.localhost", "/cgi-bin/log?marker-\(written)")
            try await Task.sleep(for: .milliseconds(300))
            seen = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        }
        XCTAssertTrue(seen.contains("logged marker-"), "follow printed: \(seen)")
        XCTAssertFalse(seen.contains("logged before-follow"), "--tail 0 sends no earlier line: \(seen)")
        follower.terminate()
        let since = try await berth.run(["logs", "web", "--since", "10m"])
        XCTAssertTrue(since.stdout.contains("logged marker-1\n"), since.stdout)
        let none = try await berth.run(["logs", "web", "--since", "2000-01-01T00:00:00Z", "--tail", "0"])
        XCTAssertEqual(none.stdout, "")

        // A failed rollout: the reason and the revision's last lines, exit 6; the old one serves.
        let crashing = TestImage(layers: [.busybox()], cmd: ["sh", "-c", "echo cannot start >&2; exit 7"])
        let bad = try await TestRegistry.push(crashing, to: f.env.registry, repository: "berth/cli-crash", tag: "1").reference
        let failed = try await berth.run(["deploy", "web", "--image", bad])
        XCTAssertEqual(failed.status, 6, failed.stderr)
        XCTAssertTrue(failed.stderr.contains("exited with code 7"), failed.stderr)
        XCTAssertTrue(failed.stderr.contains("cannot start"), "the revision's last log line: \(failed.stderr)")
        XCTAssertTrue(failed.stderr.split(separator: "\n").last?.hasPrefix("berth: revision 4 of web failed") ?? false, failed.stderr)
        try await Self.expectPage(f, "page one\n")

        // A first deploy that crashes ends the wait too (nothing older serves), with its log.
        let broken = try await berth.run(["deploy", "broken", "--image", bad, "--wait-timeout", "2m"])
        XCTAssertEqual(broken.status, 6, broken.stderr)
        XCTAssertTrue(broken.stderr.contains("cannot start"), broken.stderr)
        let removedBroken = try await berth.run(["rm", "broken", "--yes"])
        XCTAssertEqual(removedBroken.status, 0, removedBroken.stderr)

        // Refusals: one line each, exit codes by kind.
        assertOneLineFailure(try await berth.run(["deploy", "web", "--cpu", "abc"]), status: 2, containing: "cpu")
        assertOneLineFailure(try await berth.run(["deploy", "web", "--cpu", "0"]), status: 5, containing: "cpu")
        assertOneLineFailure(try await berth.run(["describe", "nothing"]), status: 3, containing: "no container named nothing")
        assertOneLineFailure(try await berth.run(["deploy", "other"]), status: 2, containing: "--image")
        assertOneLineFailure(try await berth.run(["logs", "web", "--since", "yesterday"]), status: 5, containing: "since")
        assertOneLineFailure(try await berth.run(["rm", "web"]), status: 2, containing: "--yes")
        assertOneLineFailure(try await berth.run(["ls"], environment: ["BERTH_URL": "http://127.0.0.1:1"]), status: 7, containing: "cannot reach")

        // An operator's token, minted with the node's secret, sees every owner's containers.
        let minted = try await berth.run(["token", "--secret-file", f.secretFile, "--sub", "root", "--role", "ADMIN", "--ttl", "5m"])
        XCTAssertEqual(minted.status, 0, minted.stderr)
        let all = try await berth.run(["ls", "--all", "-o", "json"], environment: ["BERTH_TOKEN": minted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
        XCTAssertEqual((try all.json["containers"] as? [[String: Any]])?.map { $0["owner"] as? String }, ["alice"])
        let byName = try await berth.run(["describe", "web", "-o", "json"], environment: ["BERTH_TOKEN": minted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
        XCTAssertEqual((try byName.json["container"] as? [String: Any])?["owner"] as? String, "alice", "an ADMIN names anyone's container")
        let bob = try await f.token("bob")
        assertOneLineFailure(try await berth.run(["describe", "web"], environment: ["BERTH_TOKEN": bob]), status: 3,
                             containing: "no container named web")
        let gpus = try await berth.run(["gpus"])
        XCTAssertEqual(gpus.status, 0, gpus.stderr)

        let removed = try await berth.run(["rm", "web", "--yes"])
        XCTAssertEqual(removed.status, 0, removed.stderr)
        XCTAssertEqual(removed.stdout, "deleted web\n")
        assertOneLineFailure(try await berth.run(["describe", "web"]), status: 3, containing: "no container named web")
    }

    func testEveryCommandHasHelp() async throws {
        let berth = BerthBinary(home: NSTemporaryDirectory())
        let root = try await berth.run(["--help"])
        XCTAssertEqual(root.status, 0)
        XCTAssertTrue(root.stdout.contains("Exit status:"), root.stdout)
        for command in ["login", "deploy", "ls", "describe", "revisions", "logs", "rollback", "rm", "gpus", "token", "completion"] {
            let help = try await berth.run([command, "--help"])
            XCTAssertEqual(help.status, 0, command)
            XCTAssertTrue(help.stdout.contains("USAGE: berth \(command)"), "\(command): \(help.stdout)")
        }
        let completion = try await berth.run(["completion", "bash"])
        XCTAssertEqual(completion.status, 0)
        XCTAssertTrue(completion.stdout.contains("-F _berth berth"), completion.stdout)
    }
}

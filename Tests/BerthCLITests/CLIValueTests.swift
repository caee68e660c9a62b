@testable import BerthCLI
import BerthClient
import BerthModel
import Foundation
import JSONValue
import XCTest

/// The command line's rules that need no node: the deploy watch's state machine, the body the
/// deploy flags make, env files, tables, the config file, rollback's choice and pinning.
final class CLIValueTests: XCTestCase {
    /// A JSON value from Foundation values.
    static func value(_ object: Any) throws -> JSONValue {
        try JSONValue.parse(try JSONSerialization.data(withJSONObject: object))
    }

    static func container(status: String = "pending", revision: Int = 1, latest: Int = 1, message: String? = nil,
                          pull: PullProgress? = nil) throws -> Container {
        var json: [String: Any] = [
            "id": "93cfc912-0660-44a7-ae26-e7e23f919659", "name": "web", "owner": "alice", "image": "r/web:1", "cpu": 1,
            "ram": "64Mi", "gpu": 0, "ephemeralStorage": "1Gi", "port": "8080", "env": [String: String](), "concurrency": 0,
            "minInstances": 0, "maxInstances": 1, "timeoutSeconds": 300,
            "instances": ["desired": 1, "ready": 0, "starting": 1], "revision": revision,
            "latestRevision": latest, "status": status, "url": "http://web.localhost",
            "createdAt": "2026-12-02T10:00:00.000Z", "updatedAt": "2026-12-02T10:00:00.000Z",
        ]
        if let message { json["statusMessage"] = message }
        if let pull {
            json["pull"] = ["revision": pull.revision, "image": pull.image, "phase": pull.phase,
                            "layers": ["done": pull.layers.done, "total": pull.layers.total],
                            "bytes": ["done": pull.bytes.done, "total": pull.bytes.total]]
        }
        return try Fetched<Container>(try Self.value(json)).value
    }

    static func revision(_ number: Int, status: String, digest: String? = "sha256:" + String(repeating: "ab", count: 32),
                         message: String? = nil, protocol servingProtocol: String? = nil) throws -> Revision {
        var json: [String: Any] = [
            "revision": number, "image": "127.0.0.1:5000/berth/web:\(number)", "cpu": 0.5, "ram": "64Mi", "gpu": 0,
            "ephemeralStorage": "1Gi", "port": "8080", "env": ["A": "1"], "concurrency": 2, "minInstances": 1,
            "maxInstances": 3, "timeoutSeconds": 60, "status": status, "createdAt": "2026-12-02T10:00:00.000Z",
        ]
        if let digest { json["imageDigest"] = digest }
        if let message { json["statusMessage"] = message }
        if let servingProtocol { json["protocol"] = servingProtocol }
        return try Fetched<Revision>(try Self.value(json)).value
    }

    func testTheWatchGoesForwardThroughThePhasesAndEndsOnce() throws {
        var watch = DeployWatch(revision: 2)
        let pull = PullProgress(revision: 2, image: "r/web:2", phase: "downloading", layers: .init(done: 1, total: 3),
                                bytes: .init(done: 10, total: 90))
        XCTAssertEqual(watch.observe(.init(container: try Self.container(status: "running", latest: 2), revision: try Self.revision(2, status: "pending"),
                                           instances: [Instance(revision: 1, instance: 0, status: "running")])),
                       [.entered(.pending(nil))])
        let pulling = DeploySnapshot(container: try Self.container(status: "running", latest: 2, pull: pull),
                                     revision: try Self.revision(2, status: "pending"),
                                     instances: [Instance(revision: 2, instance: 0, status: "pulling")])
        XCTAssertEqual(watch.observe(pulling), [.entered(.pulling), .pulled(pull)])
        XCTAssertEqual(watch.observe(pulling), [], "nothing new")
        let starting = DeploySnapshot(container: try Self.container(status: "running", latest: 2), revision: try Self.revision(2, status: "pending"),
                                      instances: [Instance(revision: 2, instance: 0, status: "starting")])
        XCTAssertEqual(watch.observe(starting), [.entered(.starting)])
        XCTAssertEqual(watch.observe(pulling), [], "never back to pulling")
        let active = DeploySnapshot(container: try Self.container(status: "running", revision: 2, latest: 2),
                                    revision: try Self.revision(2, status: "active"), instances: [])
        XCTAssertEqual(watch.observe(active), [.entered(.ready), .finished(.ready)])
        XCTAssertEqual(watch.observe(active), [], "over")
    }

    func testAFailedOrSupersededRevisionEndsTheWatch() throws {
        var failing = DeployWatch(revision: 2)
        let failed = DeploySnapshot(container: try Self.container(status: "running", latest: 2),
                                    revision: try Self.revision(2, status: "failed", message: "exited with code 7"), instances: [])
        XCTAssertEqual(failing.observe(failed), [.entered(.failed("exited with code 7")), .finished(.failed("exited with code 7"))])
        var replaced = DeployWatch(revision: 2)
        let retired = DeploySnapshot(container: try Self.container(status: "running", latest: 3),
                                     revision: try Self.revision(2, status: "retired"), instances: [])
        XCTAssertEqual(replaced.observe(retired), [.entered(.superseded(3)), .finished(.superseded(3))])
        var first = DeployWatch(revision: 1)
        let crashing = DeploySnapshot(container: try Self.container(status: "failed", message: "restarting in 2 s after: exited with code 7"),
                                      revision: try Self.revision(1, status: "pending"),
                                      instances: [Instance(revision: 1, instance: 0, status: "failed")])
        XCTAssertEqual(first.observe(crashing).last, .finished(.failed("restarting in 2 s after: exited with code 7")),
                       "a first deploy that fails ends the wait: nothing older serves")
        var rollout = DeployWatch(revision: 2)
        let oldFailing = DeploySnapshot(container: try Self.container(status: "failed", revision: 1, latest: 2),
                                        revision: try Self.revision(2, status: "pending"), instances: [])
        XCTAssertEqual(rollout.observe(oldFailing), [.entered(.pending(nil))], "the serving revision's failure is not the rollout's")
        var quick = DeployWatch(revision: 1)
        let served = DeploySnapshot(container: try Self.container(status: "running"), revision: try Self.revision(1, status: "active"),
                                    instances: [])
        XCTAssertEqual(quick.observe(served), [.entered(.starting), .entered(.ready), .finished(.ready)],
                       "a revision that served was started, even between two polls")
    }

    func testDeployFlagsSendOnlyWhatIsGivenAndMergeTheEnvironment() throws {
        let envFile = NSTemporaryDirectory() + "berth-env-\(UUID().uuidString)"
        try "# comment\n\nFROM_FILE=1\nQUOTED=\"kept as written\"\r\nA=from-file\n".write(toFile: envFile, atomically: true, encoding: .utf8)
        let update = try SpecOptions.parse(["--env", "A=2", "--env", "EMPTY=", "--env-file", envFile, "--unset-env", "OLD", "--max-instances", "3"])
        XCTAssertEqual(try update.body(name: nil, currentEnv: ["OLD": "x", "KEEP": "y"]), try Self.value([
            "maxInstances": 3,
            "env": ["A": "2", "EMPTY": "", "FROM_FILE": "1", "QUOTED": "\"kept as written\"", "KEEP": "y"],
        ]))
        let create = try SpecOptions.parse(["--image", "r/web:1", "--cpu", "0.5", "--storage", "1Gi", "--timeout", "2m", "--no-keep-warm"])
        XCTAssertEqual(try create.body(name: "web", currentEnv: [:]), try Self.value([
            "name": "web", "image": "r/web:1", "cpu": 0.5, "ephemeralStorage": "1Gi", "timeoutSeconds": 120, "keepWarm": false,
        ]))
        XCTAssertEqual(try SpecOptions.parse([]).body(name: nil, currentEnv: ["A": "1"]), .object([:]), "a redeploy changes nothing")
        // Secret references are kept as references, and --env-secret adds one.
        let secret = try SpecOptions.parse(["--env-secret", "HF_TOKEN=hf", "--env", "B=2"])
        XCTAssertEqual(try secret.body(name: nil, currentEnv: ["A": "1", "OLD": .secret("old")]), .object([
            "env": .object(["A": .string("1"), "B": .string("2"), "OLD": .object(["secret": .string("old")]),
                            "HF_TOKEN": .object(["secret": .string("hf")])]),
        ]))
        XCTAssertThrowsError(try SpecOptions.parse(["--env-secret", "NOVALUE"]).body(name: nil, currentEnv: [:]))
        let decoded = try JSONDecoder().decode([String: EnvironmentValue].self, from: Data(#"{"A":"x","B":{"secret":"s"}}"#.utf8))
        XCTAssertEqual(decoded, ["A": .plain("x"), "B": .secret("s")])
        XCTAssertEqual(decoded["B"]?.shown, "<secret s>")
        XCTAssertThrowsError(try JSONDecoder().decode([String: EnvironmentValue].self, from: Data(#"{"A":3}"#.utf8)))
        for bad in [["--env", "NOVALUE"], ["--env", "=x"], ["--timeout", "1.5s"], ["--timeout", "0"], ["--env-file", "/nonexistent"]] {
            XCTAssertThrowsError(try SpecOptions.parse(bad).body(name: nil, currentEnv: [:]), "\(bad)") { error in
                XCTAssertEqual((error as? CLIFailure)?.kind, .usage, "\(bad): \(error)")
            }
        }
    }

    func testRollbackChoosesTheRevisionThatServedBeforeAndPinsItsDigest() throws {
        let revisions = [try Self.revision(4, status: "active"), try Self.revision(3, status: "failed"),
                         try Self.revision(2, status: "retired"), try Self.revision(1, status: "retired")]
        XCTAssertEqual(try RollbackCommand.choose(nil, among: revisions, serving: 4).revision, 2)
        XCTAssertEqual(try RollbackCommand.choose(1, among: revisions, serving: 4).revision, 1)
        XCTAssertThrowsError(try RollbackCommand.choose(9, among: revisions, serving: 4))
        XCTAssertThrowsError(try RollbackCommand.choose(nil, among: [try Self.revision(1, status: "active")], serving: 1))
        let body = try RollbackCommand.body(pinning: revisions[2])
        XCTAssertEqual(body["image"], .string("127.0.0.1:5000/berth/web:2@sha256:" + String(repeating: "ab", count: 32)))
        XCTAssertEqual(body["minInstances"], .integer(1))
        XCTAssertEqual(body["env"], .object(["A": .string("1")]))
        XCTAssertThrowsError(try RollbackCommand.body(pinning: try Self.revision(5, status: "retired", digest: nil)))
    }

    func testTheProtocolFlagIsSentOnlyWhenGivenAndARollbackCarriesTheProtocol() async throws {
        XCTAssertEqual(try SpecOptions.parse(["--protocol", "h2c"]).body(name: nil, currentEnv: [:]), .object(["protocol": .string("h2c")]))
        XCTAssertEqual(try SpecOptions.parse(["--image", "r/g:1", "--protocol", "http1"]).body(name: "g", currentEnv: [:])["protocol"],
                       .string("http1"))
        XCTAssertNil(try SpecOptions.parse(["--port", "50051"]).body(name: nil, currentEnv: [:])["protocol"], "an update keeps it")
        for bad in ["HTTP2", "h2", "H2C", "2", ""] {
            // Refused as the flags are parsed: a usage error, one line, before any node is asked.
            XCTAssertThrowsError(try DeployCommand.parse(["greeter", "--protocol", bad]), bad) { error in
                let message = DeployCommand.message(for: error)
                XCTAssertTrue(message.hasPrefix("--protocol \(bad): give http1 or h2c"), message)
                XCTAssertFalse(message.contains("\n"), message)
            }
            let status = await BerthCommand.run(["deploy", "greeter", "--protocol", bad])
            XCTAssertEqual(status, CLIFailure.Kind.usage.rawValue, bad)
        }

        let h2c = try Self.revision(2, status: "retired", protocol: "h2c")
        XCTAssertEqual(h2c.protocol, "h2c")
        XCTAssertEqual(try RollbackCommand.body(pinning: h2c)["protocol"], .string("h2c"))
        XCTAssertNil(try RollbackCommand.body(pinning: try Self.revision(2, status: "retired"))["protocol"],
                     "a node older than the field neither sends it nor accepts it")
        XCTAssertNil(try Self.container().protocol, "decoded from a node older than the field")
    }

    func testTablesPadByWhatIsSeenAndColourFollowsTheTerminal() {
        let style = Style(colour: true)
        var table = Table(headers: ["NAME", "STATUS"])
        table.rows = [["web", style.status("running")], ["a-longer-name", style.status("failed")]]
        XCTAssertEqual(table.render(), "NAME            STATUS\nweb             \u{1B}[32mrunning\u{1B}[0m\na-longer-name   \u{1B}[31mfailed\u{1B}[0m\n")
        XCTAssertEqual(Style(colour: false).status("running"), "running")
        XCTAssertFalse(Style.detect(fd: -1).colour, "not a terminal")
        XCTAssertEqual("evil\u{1B}]52;c;cm0gLXJmIC8=\u{07}\rname\tok".shown, "evil\u{FFFD}]52;c;cm0gLXJmIC8=\u{FFFD}\u{FFFD}name\tok",
                       "a tenant's text cannot drive the terminal")
        XCTAssertEqual("caf\u{E9} \u{85}".shown, "caf\u{E9} \u{FFFD}", "C1 controls too")
        XCTAssertEqual(ByteCountText.decimal(999), "999 B")
        XCTAssertEqual(ByteCountText.decimal(12_582_912), "12.6 MB")
    }

    func testTheConfigFileIsPrivateAndRoundTrips() throws {
        let folder = NSTemporaryDirectory() + "berth-config-\(UUID().uuidString)"
        let path = ConfigFile.path(environment: ["XDG_CONFIG_HOME": folder])
        XCTAssertEqual(path, folder + "/berth/config.toml")
        XCTAssertEqual(ConfigFile.path(environment: ["HOME": "/home/alice"]), "/home/alice/.config/berth/config.toml")
        XCTAssertEqual(try ConfigFile.load(path), ConfigFile(), "no file: nothing saved")
        let saved = ConfigFile(url: "http://127.0.0.1:8080", token: "a.b.c")
        try saved.save(path)
        XCTAssertEqual(try ConfigFile.load(path), saved)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? Int).map { $0 & 0o777 }, 0o600)
        let folderMode = try FileManager.default.attributesOfItem(atPath: folder + "/berth")[.posixPermissions] as? Int
        XCTAssertEqual(folderMode.map { $0 & 0o777 }, 0o700)
        try "url = [".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ConfigFile.load(path)) { XCTAssertEqual(($0 as? CLIFailure)?.kind, .usage) }
        XCTAssertEqual(LoginCommand.subject(of: "e30.eyJzdWIiOiJhbGljZSJ9.sig"), "alice")
    }
}

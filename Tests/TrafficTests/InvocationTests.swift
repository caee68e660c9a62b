import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// Requests through the proxy to real containers: routing, errors, rollouts under load, and
/// scale to zero.
final class InvocationTests: XCTestCase {
    func testRoutingByNameAndIdAndTheErrorPaths() async throws {
        let f = try NodeFixture { $0.wakeTimeout = .seconds(3) }
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let token = try await f.token("alice")
        let id = try await f.deploy(["name": "greeter", "image": try await f.pushHTTPD("berth/tr-greeter", page: "hi\n"), "ram": "64Mi"], token: token)

        let byName = try await f.invoke("greeter.localhost")
        XCTAssertEqual(byName.status, 200)
        XCTAssertEqual(byName.text, "hi\n")
        let byID = try await f.invoke("\(id).localhost")
        XCTAssertEqual(byID.text, "hi\n")
        let mixedCase = try await f.invoke("GREETER.LocalHost:8081")
        XCTAssertEqual(mixedCase.status, 200, "host match ignores case and port")

        let unknown = try await f.invoke("nobody.localhost")
        XCTAssertEqual(unknown.status, 404)
        XCTAssertEqual(unknown.headers["content-type"], "application/problem+json")
        let otherDomain = try await f.invoke("greeter.example.com")
        XCTAssertEqual(otherDomain.status, 404)

        // A container that never listens: held up to the wake timeout, then 503.
        let mute = TestImage(layers: [.busybox()], cmd: ["sleep", "3600"])
        let muteImage = try await TestRegistry.push(mute, to: f.env.registry, repository: "berth/tr-mute", tag: "1").reference
        _ = try await f.request("POST", "/v1/containers", token: token, json: ["name": "mute", "image": muteImage, "ram": "64Mi"])
        let clock = ContinuousClock()
        var starting: NodeFixture.Reply?
        let waited = try await clock.measure { starting = try await f.invoke("mute.localhost") }
        XCTAssertEqual(starting?.status, 503)
        XCTAssertGreaterThanOrEqual(waited, .seconds(2.5))

        // A container that failed: 502.
        let crash = TestImage(layers: [.busybox()], cmd: ["sh", "-c", "exit 1"])
        let crashImage = try await TestRegistry.push(crash, to: f.env.registry, repository: "berth/tr-crash", tag: "1").reference
        let created = try await f.request("POST", "/v1/containers", token: token, json: ["name": "crasher", "image": crashImage, "ram": "64Mi"])
        let crashID = try XCTUnwrap(try created.json()["id"] as? String)
        try await f.waitFor(crashID, token: token) { $0["status"] as? String == "failed" }
        let failed = try await f.invoke("crasher.localhost")
        XCTAssertEqual(failed.status, 502)
        XCTAssertFalse(failed.text.contains("10."), "no internal address leaks: \(failed.text)")
    }

    /// Three updates while clients keep calling: not one request fails.
    func testRolloutsUnderLoadDropNoRequest() async throws {
        let f = try NodeFixture()
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let token = try await f.token("alice")
        let id = try await f.deploy(["name": "busy", "image": try await f.pushHTTPD("berth/tr-busy", page: "v0\n"), "ram": "64Mi"], token: token)
        var images: [String] = []
        for version in 1...3 {
            images.append(try await f.pushHTTPD("berth/tr-busy", page: "v\(version)\n", tag: "v\(version)"))
        }

        let stop = StopFlag()
        let load = Task { () -> (ok: Int, failed: [String], pages: Set<String>) in
            await withTaskGroup(of: (Int, [String], Set<String>).self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var ok = 0
                        var failed: [String] = []
                        var pages: Set<String> = []
                        while !stop.isSet {
                            do {
                                let reply = try await f.invoke("busy.localhost", timeout: 30)
                                if reply.status == 200 { ok += 1; pages.insert(reply.text) } else { failed.append("\(reply.status) \(reply.text)") }
                            } catch {
                                failed.append("\(error)")
                            }
                        }
                        return (ok, failed, pages)
                    }
                }
                var total = (ok: 0, failed: [String](), pages: Set<String>())
                for await (ok, failed, pages) in group {
                    total.ok += ok
                    total.failed += failed
                    total.pages.formUnion(pages)
                }
                return total
            }
        }
        for (index, image) in images.enumerated() {
            let put = try await f.request("PUT", "/v1/containers/\(id)", token: token, json: ["image": image])
            XCTAssertEqual(put.status, 200)
            try await f.waitFor(id, token: token) { $0["revision"] as? Int == index + 2 && $0["status"] as? String == "running" }
            try await Task.sleep(for: .milliseconds(500))
        }
        stop.set()
        let result = await load.value
        XCTAssertEqual(result.failed, [], "requests failed during the rollouts")
        XCTAssertGreaterThan(result.ok, 50)
        XCTAssertEqual(result.pages, ["v0\n", "v1\n", "v2\n", "v3\n"])
    }

    /// Idle containers are paused, then stopped; concurrent first requests wake them and are all
    /// answered.
    func testWakeUpFromPausedAndFromStopped() async throws {
        let f = try NodeFixture {
            $0.idlePauseAfter = .seconds(1)
            $0.idleStopAfter = .seconds(4)
        }
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let token = try await f.token("alice")
        let id = try await f.deploy(["name": "sleeper", "image": try await f.pushHTTPD("berth/tr-sleeper", page: "awake\n"), "ram": "64Mi"], token: token)
        let warm = try await f.deploy(["name": "warm", "image": try await f.pushHTTPD("berth/tr-warm"), "ram": "64Mi", "keepWarm": true], token: token)

        try await Task.sleep(for: .seconds(2))
        let paused = try await f.request("GET", "/v1/containers/\(id)", token: token).json()
        XCTAssertEqual(paused["status"] as? String, "idle")
        let thawed = try await assertConcurrentRequestsAnswered(f, count: 10)
        // The requests that waited for the thaw are told how long it took.
        let thaw = thawed.compactMap { $0.headers["server-timing"] }
        XCTAssertFalse(thaw.isEmpty, "no Server-Timing after a wake-up from paused")
        XCTAssertTrue(thaw.allSatisfy { $0.range(of: #"^resumed;dur=[0-9.]+$"#, options: .regularExpression) != nil }, "\(thaw)")

        try await f.waitFor(id, token: token, timeout: .seconds(20)) { $0["status"] as? String == "idle" }
        try await Task.sleep(for: .seconds(4))
        let node = try XCTUnwrap(f.node)
        let runtimeID = "\(id)-r1"
        XCTAssertEqual(node.runtime.status(runtimeID)?.phase, .stopped)
        let started = try await assertConcurrentRequestsAnswered(f, count: 10)
        let phases = started.compactMap { $0.headers["server-timing"] }
        XCTAssertFalse(phases.isEmpty, "no Server-Timing after a wake-up from stopped")
        let pattern = #"^queued;dur=[0-9.]+, pulled;dur=[0-9.]+, started;dur=[0-9.]+, ready;dur=[0-9.]+$"#
        XCTAssertTrue(phases.allSatisfy { $0.range(of: pattern, options: .regularExpression) != nil }, "\(phases)")
        let later = try await f.invoke("sleeper.localhost")
        XCTAssertNil(later.headers["server-timing"], "only requests that waited for a wake-up")

        let warmStatus = try await f.request("GET", "/v1/containers/\(warm)", token: token).json()
        XCTAssertEqual(warmStatus["status"] as? String, "running", "keepWarm is never scaled down")
        let metrics = try await f.request("GET", "/metrics").text
        XCTAssertTrue(metrics.contains("berth_proxy_wakeups_total"), metrics)
        for phase in ["queued", "pulled", "started", "ready", "resumed"] {
            XCTAssertTrue(metrics.contains(#"berth_proxy_cold_start_phase_seconds_count{container="\#(id)",phase="\#(phase)"}"#)
                          || metrics.contains(#"berth_proxy_cold_start_phase_seconds_count{phase="\#(phase)",container="\#(id)"}"#),
                          "no \(phase) series")
        }
    }

    @discardableResult
    private func assertConcurrentRequestsAnswered(_ f: NodeFixture, count: Int, file: StaticString = #filePath,
                                                  line: UInt = #line) async throws -> [NodeFixture.Reply] {
        let replies = try await withThrowingTaskGroup(of: NodeFixture.Reply.self) { group in
            for _ in 0..<count { group.addTask { try await f.invoke("sleeper.localhost", timeout: 30) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(replies.map(\.status), Array(repeating: 200, count: count), file: file, line: line)
        XCTAssertEqual(Set(replies.map(\.text)), ["awake\n"], file: file, line: line)
        return replies
    }
}

final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}

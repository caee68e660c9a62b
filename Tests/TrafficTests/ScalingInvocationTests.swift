import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// Instances through the proxy, on real containers: the concurrency limit holds under load, the
/// autoscaler adds instances and takes them away (draining first), a full queue and a slow
/// response get their statuses, and a rollout of several instances drops nothing.
final class ScalingInvocationTests: XCTestCase {
    /// One `GET /cgi-bin/work` answer: how many requests its instance served at once, and which.
    struct Work: Sendable {
        var status: Int
        var atOnce: Int?
        var instance: String?
    }

    static func work(_ f: NodeFixture, _ host: String, pause: Int? = nil) async -> Work {
        guard let reply = try? await f.invoke(host, "/cgi-bin/work" + (pause.map { "?\($0)" } ?? "")) else {
            return Work(status: -1)
        }
        var work = Work(status: reply.status)
        for field in reply.text.split(whereSeparator: \.isWhitespace) {
            let parts = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            if parts[0] == "at-once" { work.atOnce = Int(parts[1]) }
            if parts[0] == "instance" { work.instance = parts[1] }
        }
        return work
    }

    /// `clients` loops of requests until `until` says stop; every answer.
    static func load(_ f: NodeFixture, _ host: String, clients: Int, until stop: @escaping @Sendable () -> Bool) async -> [Work] {
        await withTaskGroup(of: [Work].self) { group in
            for _ in 0..<clients {
                group.addTask {
                    var answers: [Work] = []
                    while !stop() { answers.append(await work(f, host)) }
                    return answers
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
    }

    /// The value of the series `name` with these labels on /metrics, if it is there.
    static func metric(_ f: NodeFixture, _ name: String, _ labels: [String: String]) async throws -> Double? {
        let text = try await f.request("GET", "/metrics").text
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") {
            let parts = line.split(separator: " ")
            guard parts.count >= 2, labels.allSatisfy({ line.contains("\($0.key)=\"\($0.value)\"") }) else { continue }
            return Double(parts[parts.count - 1])
        }
        return nil
    }

    func instances(_ f: NodeFixture, _ id: String, token: String) async throws -> [[String: Any]] {
        let reply = try await f.request("GET", "/v1/containers/\(id)/instances", token: token)
        return try reply.json()["instances"] as? [[String: Any]] ?? []
    }

    func testAtConcurrencyOneNoInstanceEverServesTwoAtOnce() async throws {
        let f = try NodeFixture()
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let token = try await f.token("alice")
        _ = try await f.deploy(["name": "one", "image": try await f.pushWorkCGI("berth/sc-one"), "ram": "64Mi", "cpu": 0.25,
                                "concurrency": 1, "maxInstances": 2], token: token)
        let answers = await withTaskGroup(of: [Work].self) { group in
            for _ in 0..<32 {
                group.addTask { [await Self.work(f, "one.localhost"), await Self.work(f, "one.localhost")] }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        XCTAssertEqual(answers.count, 64)
        XCTAssertEqual(answers.filter { $0.status != 200 }.count, 0, "\(answers.map(\.status))")
        XCTAssertEqual(Set(answers.compactMap(\.atOnce)), [1], "an instance served two requests at once")
    }

    func testLoadAddsInstancesUpToTheMaximumAndTheyGoBackWhenItStops() async throws {
        let f = try NodeFixture {
            $0.autoscalerStableWindow = .seconds(4)
            $0.autoscalerPanicWindow = .seconds(1)
            $0.autoscalerScaleDownDelay = .seconds(1)
        }
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let token = try await f.token("alice")
        let id = try await f.deploy(["name": "wide", "image": try await f.pushWorkCGI("berth/sc-wide"), "ram": "64Mi",
                                     "cpu": 0.25, "concurrency": 1, "maxInstances": 4], token: token)
        let stop = StopFlag()
        let sawFour = StopFlag()
        async let answers = Self.load(f, "wide.localhost", clients: 16, until: { stop.isSet })
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let container = try await f.request("GET", "/v1/containers/\(id)", token: token).json()
            if (container["instances"] as? [String: Int])?["ready"] == 4 { sawFour.set(); break }
            try await Task.sleep(for: .milliseconds(200))
        }
        // A little longer at four, so that requests spread over all of them.
        try await Task.sleep(for: .seconds(2))
        let ready = try await Self.metric(f, "berth_proxy_instances", ["container": id, "state": "ready"])
        let desired = try await Self.metric(f, "berth_proxy_desired_instances", ["container": id])
        let decisions = try await Self.metric(f, "berth_proxy_scale_decisions_total", ["container": id])
        let waited = try await Self.metric(f, "berth_proxy_queue_wait_seconds_count", ["container": id])
        let queueLength = try await Self.metric(f, "berth_proxy_queue_length", ["container": id])
        stop.set()
        XCTAssertEqual(ready, 4)
        XCTAssertEqual(desired, 4)
        XCTAssertGreaterThanOrEqual(decisions ?? 0, 1)
        XCTAssertGreaterThan(waited ?? 0, 0, "queued requests are timed")
        XCTAssertNotNil(queueLength)
        let all = await answers
        XCTAssertTrue(sawFour.isSet, "four instances never became ready")
        XCTAssertEqual(all.filter { $0.status != 200 }.count, 0, "failed: \(all.filter { $0.status != 200 }.map(\.status))")
        XCTAssertEqual(Set(all.compactMap(\.atOnce)), [1])
        XCTAssertEqual(Set(all.compactMap(\.instance)).count, 4, "requests were served by four instances")

        // Load gone: back to one instance (minInstances 0 keeps one; zero is the idle tiers').
        // Meanwhile a trickle of requests sees no failure while instances drain.
        let trickleStop = StopFlag()
        async let trickle = Self.load(f, "wide.localhost", clients: 1, until: { trickleStop.isSet })
        var listed: [[String: Any]] = []
        let back = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < back {
            listed = try await instances(f, id, token: token)
            if listed.count == 1 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        trickleStop.set()
        let trickled = await trickle
        XCTAssertEqual(listed.count, 1, "\(listed)")
        XCTAssertEqual(listed.first?["instance"] as? Int, 0, "the first instance stays")
        XCTAssertEqual(trickled.filter { $0.status != 200 }.count, 0, "failed while scaling down: \(trickled.map(\.status))")
        let container = try await f.request("GET", "/v1/containers/\(id)", token: token).json()
        XCTAssertEqual(container["instances"] as? [String: Int], ["desired": 1, "ready": 1, "starting": 0])
    }

    func testAFullQueueGets503WithRetryAfterAndASlowAnswer504() async throws {
        let f = try NodeFixture { $0.queueLimit = 2 }
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let token = try await f.token("alice")
        _ = try await f.deploy(["name": "narrow", "image": try await f.pushWorkCGI("berth/sc-narrow"), "ram": "64Mi",
                                "cpu": 0.25, "concurrency": 1, "timeoutSeconds": 2], token: token)
        // One request holds the only slot for 1.5 s, two wait for it; a fourth finds the queue full.
        async let holding = Self.work(f, "narrow.localhost", pause: 1_500_000)
        try await Task.sleep(for: .milliseconds(300))
        async let first = Self.work(f, "narrow.localhost", pause: 100_000)
        async let second = Self.work(f, "narrow.localhost", pause: 100_000)
        try await Task.sleep(for: .milliseconds(300))
        let refused = try await f.invoke("narrow.localhost", "/cgi-bin/work")
        XCTAssertEqual(refused.status, 503, refused.text)
        XCTAssertEqual(refused.headers["retry-after"], "1")
        XCTAssertEqual(refused.headers["content-type"], "application/problem+json")
        let container = try await f.request("GET", "/v1/containers?all=false", token: token).json()["containers"] as? [[String: Any]]
        let id = try XCTUnwrap(container?.first?["id"] as? String)
        let refusals = try await Self.metric(f, "berth_proxy_queue_refused_total", ["container": id])
        XCTAssertEqual(refusals, 1)
        let held = await [holding, first, second]
        XCTAssertEqual(held.map(\.status), [200, 200, 200], "the queued requests were served once the slot freed")

        // Past timeoutSeconds (2 s) the proxy answers 504.
        let clock = ContinuousClock()
        var slow: NodeFixture.Reply?
        let took = try await clock.measure { slow = try await f.invoke("narrow.localhost", "/cgi-bin/work?4000000") }
        XCTAssertEqual(slow?.status, 504, slow?.text ?? "")
        XCTAssertGreaterThanOrEqual(took, .seconds(1.9))
        XCTAssertLessThan(took, .seconds(3.9))
    }

    func testARolloutOfFourInstancesUnderLoadDropsNoRequest() async throws {
        let f = try NodeFixture()
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let token = try await f.token("alice")
        let id = try await f.deploy(["name": "fleet", "image": try await f.pushWorkCGI("berth/sc-fleet"), "ram": "64Mi",
                                     "cpu": 0.25, "concurrency": 2, "minInstances": 4, "maxInstances": 4], token: token)
        try await f.waitFor(id, token: token) { ($0["instances"] as? [String: Int])?["ready"] == 4 }
        let stop = StopFlag()
        async let answers = Self.load(f, "fleet.localhost", clients: 8, until: { stop.isSet })
        try await Task.sleep(for: .seconds(1))
        let updated = try await f.request("PUT", "/v1/containers/\(id)", token: token,
                                          json: ["image": try await f.pushWorkCGI("berth/sc-fleet", tag: "2")])
        XCTAssertEqual(updated.status, 200, updated.text)
        try await f.waitFor(id, token: token, timeout: .seconds(120)) {
            $0["revision"] as? Int == 2 && ($0["instances"] as? [String: Int])?["ready"] == 4
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline, try await instances(f, id, token: token).contains(where: { $0["revision"] as? Int == 1 }) {
            try await Task.sleep(for: .milliseconds(200))
        }
        try await Task.sleep(for: .seconds(1))
        stop.set()
        let all = await answers
        XCTAssertGreaterThan(all.count, 20)
        XCTAssertEqual(all.filter { $0.status != 200 }.count, 0, "failed during the rollout: \(all.filter { $0.status != 200 }.map(\.status))")
        let left = try await instances(f, id, token: token)
        XCTAssertEqual(left.map { $0["revision"] as? Int }, [2, 2, 2, 2], "\(left)")
    }
}

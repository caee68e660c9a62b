import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// berthd SIGKILLed at seeded random points of create, update (rollout), pause, stop and
/// delete, 50 times, restarted each time: every container reaches what the API last accepted,
/// and the host holds nothing that no live revision owns (full listings, HostInventory).
final class KillLoopTests: XCTestCase {
    enum Step: String, CaseIterable {
        case create, update, pause, stop, delete

        /// Where the kill lands, in ms after the step's request (pause and stop: after the last
        /// invocation, around the 1 s pause and the 2 s stop the node is configured with).
        var delays: ClosedRange<Int> {
            switch self {
            case .create: 0...1500
            case .update: 0...2000
            case .pause: 700...1700
            case .stop: 1700...3000
            case .delete: 0...1200
            }
        }
    }

    struct Outcome {
        var iteration: Int
        var step: Step
        var delay: Int
        /// The step's API call got its answer before the kill.
        var answered: Bool
        /// Where berthd's log stood when the iteration began.
        var logStart: UInt64
        var failure: String?
        /// Objects this iteration newly found leaked (or missing from the baseline).
        var leaked = 0
    }

    static let iterations = 50
    static let steps = Step.allCases
    static let page = "fault\n"
    /// Keeps the suite bounded in .ci/run: iterations left when this is spent are failures.
    static let budget = Duration.seconds(300)

    var current: (id: String, name: String, revision: Int)?
    var known: Set<String> = []
    /// Inventory lines already reported by an earlier iteration.
    var reported: Set<String> = []

    func testSIGKILLAtRandomPointsOfEveryStepConverges() async throws {
        let (start, seed) = SeededRandom.fromEnvironment(default: 20_261_202)
        print("FaultTests.KillLoopTests seed \(seed) (BERTH_FAULT_SEED=\(seed) replays this plan), steps: \(Self.steps.map(\.rawValue))")
        let f = try NodeFixture()
        let berthd = try BerthdProcess(f, extraArguments: ["--idle-pause-after", "1s", "--idle-stop-after", "2s",
                                                          "--stop-grace-period", "500ms", "--readiness-timeout", "20s"])
        let token = try await f.token("fault", roles: ["ADMIN"])
        var random = start
        try await berthd.start()
        do {
            try await run(berthd, token: token, random: &random, seed: seed)
        } catch {
            await berthd.tearDown(token: token)
            throw error
        }
        await berthd.tearDown(token: token)
    }

    private func run(_ berthd: BerthdProcess, token: String, random: inout SeededRandom, seed: UInt64) async throws {
        let f = berthd.fixture
        let image = try await f.pushHTTPD("berth/fault-httpd", page: Self.page)
        func spec(_ name: String) -> [String: Any] { ["name": name, "image": image, "ram": "32Mi", "ephemeralStorage": "64Mi"] }

        // Warm-up: the image is pulled and the bridge and its policy exist; then the baseline.
        let warm = try await f.deploy(spec("fault-warm"), token: token)
        known.insert(warm)
        let deleted = try await f.request("DELETE", "/v1/containers/\(warm)", token: token)
        XCTAssertEqual(deleted.status, 204)
        try await berthd.awaitGone(warm, token: token)
        let baseline = try await settledBaseline(berthd)

        var outcomes: [Outcome] = []
        let started = ContinuousClock.now
        for iteration in 0..<Self.iterations {
            guard ContinuousClock.now - started < Self.budget else {
                XCTFail("the kill loop ran out of its \(Self.budget) budget after \(iteration) of \(Self.iterations) iterations")
                break
            }
            let step = Self.steps[iteration % Self.steps.count]
            let delay = Int.random(in: step.delays, using: &random)
            var outcome = Outcome(iteration: iteration, step: step, delay: delay, answered: false,
                                  logStart: berthd.logLength())
            do {
                if current == nil, step != .create {
                    try await createUnkilled(berthd, spec: spec("fault-\(iteration)"), token: token)
                }
                outcome.answered = try await perform(step, delay: delay, iteration: iteration, berthd: berthd,
                                                     spec: spec("fault-\(iteration)"), token: token)
                let live = current.map { [$0.id: $0.revision] } ?? [:]
                let check = try await InventoryCheck.awaitClean(berthd, live: live, knownIDs: known, baseline: baseline,
                                                                alreadyReported: reported, timeout: .seconds(10))
                if !check.isClean {
                    outcome.failure = "inventory: \(check)"
                    outcome.leaked = check.lines.count
                    reported.formUnion(check.lines)
                }
            } catch {
                outcome.failure = "\(error)"
                await recover(berthd, token: token)
            }
            if let failure = outcome.failure {
                print("FaultTests: iteration \(iteration) \(step.rawValue) kill at \(delay) ms FAILED: \(failure)")
                print("FaultTests: berthd's log for it:\n\(berthd.logLines(since: outcome.logStart))")
            }
            outcomes.append(outcome)
        }

        // The end: nothing at all is left beyond the baseline.
        if let current {
            _ = try? await f.request("DELETE", "/v1/containers/\(current.id)", token: token)
            try? await berthd.awaitGone(current.id, token: token)
            self.current = nil
        }
        let final = try await InventoryCheck.awaitClean(berthd, live: [:], knownIDs: known, baseline: baseline)
        let fullDiff = final.inventory.diff(from: baseline)

        report(outcomes, seed: seed, elapsed: ContinuousClock.now - started)
        let failed = outcomes.filter { $0.failure != nil }
        XCTAssertEqual(outcomes.count, Self.iterations)
        XCTAssertTrue(failed.isEmpty, "\(failed.count) of \(outcomes.count) iterations failed (seed \(seed)):\n"
            + failed.map { "#\($0.iteration) \($0.step.rawValue) kill at \($0.delay) ms: \($0.failure!)" }.joined(separator: "\n"))
        XCTAssertTrue(fullDiff.isEmpty, "after deleting everything the host differs from the baseline:\n\(fullDiff)")
    }

    /// Runs one step with a kill `delay` ms into it, restarts berthd and waits until the
    /// container is where the API says. Returns whether the step's request was answered.
    private func perform(_ step: Step, delay: Int, iteration: Int, berthd: BerthdProcess, spec: [String: Any],
                         token: String) async throws -> Bool {
        let f = berthd.fixture
        switch step {
        case .create:
            let name = spec["name"] as! String
            let body = try JSONSerialization.data(withJSONObject: spec)
            let reply = await racingKill(berthd, after: .milliseconds(delay)) {
                try await f.request("POST", "/v1/containers", token: token, body: body)
            }
            try await berthd.start()
            var id = reply.flatMap { $0.status == 201 ? (try? $0.json())?["id"] as? String : nil }
            if id == nil {
                // Unanswered: the record exists or not, all or nothing.
                id = try await berthd.containers(token: token).first { $0["name"] as? String == name }?["id"] as? String
            }
            guard let id else {
                try await createUnkilled(berthd, spec: spec, token: token)
                return false
            }
            known.insert(id)
            _ = try await berthd.awaitServing(id, name: name, page: Self.page, revision: 1, token: token)
            current = (id, name, 1)
            return reply?.status == 201

        case .update:
            let container = current!
            let reply = await racingKill(berthd, after: .milliseconds(delay)) {
                try await f.request("PUT", "/v1/containers/\(container.id)", token: token, json: ["env": ["ITER": "\(iteration)"]])
            }
            try await berthd.start()
            // GET's "revision" is the serving one; the newest recorded is the target.
            var revision = try await berthd.latestRevision(container.id, token: token)
            if let reply, reply.status == 200 {
                let answered = (try? reply.json())?["revision"] as? Int ?? revision
                if answered != revision {
                    throw TestSupportError("PUT answered 200 with revision \(answered), after the restart the newest revision is \(revision)")
                }
                revision = answered
            }
            _ = try await berthd.awaitServing(container.id, name: container.name, page: Self.page, revision: revision, token: token)
            current = (container.id, container.name, revision)
            return reply?.status == 200

        case .pause, .stop:
            let container = current!
            // Serving and just invoked: the idle timers start now.
            _ = try await berthd.awaitServing(container.id, name: container.name, page: Self.page, token: token)
            try await Task.sleep(for: .milliseconds(delay))
            berthd.kill()
            try await berthd.start()
            let record = try await berthd.awaitServing(container.id, name: container.name, page: Self.page,
                                                       revision: container.revision, token: token)
            XCTAssertEqual(record["revision"] as? Int, container.revision)
            return true

        case .delete:
            let container = current!
            let reply = await racingKill(berthd, after: .milliseconds(delay)) {
                try await f.request("DELETE", "/v1/containers/\(container.id)", token: token)
            }
            try await berthd.start()
            let (status, record) = try await berthd.container(container.id, token: token)
            if reply?.status == 204, status == 200, record["status"] as? String != "deleting" {
                throw TestSupportError("DELETE answered 204, after the restart the container is back: \(record)")
            }
            if status == 200, record["status"] as? String != "deleting" {
                // The kill came before the delete was recorded: ask again.
                let again = try await f.request("DELETE", "/v1/containers/\(container.id)", token: token)
                guard again.status == 204 else { throw TestSupportError("DELETE after restart answered \(again.status) \(again.text)") }
            }
            current = nil
            try await berthd.awaitGone(container.id, token: token)
            return reply?.status == 204
        }
    }

    private func createUnkilled(_ berthd: BerthdProcess, spec: [String: Any], token: String) async throws {
        let id = try await berthd.fixture.deploy(spec, token: token)
        known.insert(id)
        current = (id, spec["name"] as! String, 1)
    }

    /// After a failed iteration: berthd up again, every container deleted, so the next
    /// iteration starts from nothing (its leaks still show in the next inventory).
    private func recover(_ berthd: BerthdProcess, token: String) async {
        if berthd.process?.isRunning != true { try? await berthd.start() }
        for container in (try? await berthd.containers(token: token)) ?? [] {
            guard let id = container["id"] as? String else { continue }
            known.insert(id)
            _ = try? await berthd.fixture.request("DELETE", "/v1/containers/\(id)", token: token)
            try? await berthd.awaitGone(id, token: token, timeout: .seconds(20))
        }
        current = nil
    }

    /// The inventory once the warm-up container's objects are gone.
    private func settledBaseline(_ berthd: BerthdProcess) async throws -> HostInventory {
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            let inventory = try await HostInventory.take(berthd.scope(knownIDs: known))
            let leaks = inventory.leaks(containers: [], revisions: [])
            if leaks.isEmpty { return inventory }
            guard ContinuousClock.now < deadline else {
                throw TestSupportError("the warm-up container's objects are still there after its delete:\n\(leaks)")
            }
            try await Task.sleep(for: .milliseconds(300))
        }
    }

    private func report(_ outcomes: [Outcome], seed: UInt64, elapsed: Duration) {
        print("FaultTests.KillLoopTests: \(outcomes.count) iterations in \(elapsed), seed \(seed)")
        for step in Self.steps {
            let mine = outcomes.filter { $0.step == step }
            let answered = mine.filter(\.answered).count
            let failed = mine.filter { $0.failure != nil }.count
            let leaked = mine.map(\.leaked).reduce(0, +)
            print("  \(step.rawValue): \(mine.count) kills (\(answered) after the API answered, \(mine.count - answered) before), "
                + "\(failed) failed, \(leaked) leaked objects")
        }
    }
}

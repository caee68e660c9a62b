@testable import Reconciler
import XCTest

final class ConvergeQueueTests: XCTestCase {
    func testARequestDuringAPassQueuesExactlyOneMore() {
        var queue = ConvergeQueue()
        XCTAssertTrue(queue.request("a"), "idle: start a pass")
        XCTAssertFalse(queue.request("a"), "busy: queued")
        XCTAssertFalse(queue.request("a"), "still one more, not two")
        XCTAssertTrue(queue.request("b"), "another container runs beside it")
        XCTAssertEqual(queue.finished("a", succeeded: true, now: .now).again, true)
        XCTAssertEqual(queue.finished("a", succeeded: true, now: .now).again, false)
        XCTAssertNil(queue.entries["a"], "nothing kept for a container that converged")
        XCTAssertTrue(queue.request("a"))
    }

    func testFailuresBackOffExponentiallyUpToTheMaximum() {
        var queue = ConvergeQueue()
        queue.initialDelay = .milliseconds(100)
        queue.maximumDelay = .seconds(1)
        var delays: [Duration] = []
        let now = ContinuousClock.now
        for _ in 0..<6 {
            XCTAssertTrue(queue.request("a"))
            delays.append(queue.finished("a", succeeded: false, now: now).retryIn!)
        }
        XCTAssertEqual(delays, [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
        XCTAssertTrue(queue.request("a"))
        XCTAssertNil(queue.finished("a", succeeded: true, now: now).retryIn)
        XCTAssertNil(queue.entries["a"], "a success forgets the failures")
    }

    func testARetryIsDueOnceAfterItsDelay() {
        var queue = ConvergeQueue()
        queue.initialDelay = .milliseconds(100)
        let now = ContinuousClock.now
        XCTAssertTrue(queue.request("a"))
        _ = queue.finished("a", succeeded: false, now: now)
        XCTAssertEqual(queue.due(now: now + .milliseconds(50)), [], "not yet")
        XCTAssertEqual(queue.due(now: now + .milliseconds(100)), ["a"])
        XCTAssertEqual(queue.due(now: now + .seconds(5)), [], "handed out once")
        XCTAssertTrue(queue.request("a"), "the retry runs a pass")
        XCTAssertEqual(queue.entries["a"]?.failures, 1, "the failure count stays until a success")
    }

    /// The periodic re-check is spread over half the period, a share each tick, never all at once.
    func testThePeriodicRecheckIsSpreadOverThePeriod() {
        let share = { Reconciler.resyncShare(of: $0, period: .seconds(30), tick: .milliseconds(250)) }
        XCTAssertEqual(share(1000), 17, "1000 containers over 60 ticks")
        XCTAssertEqual(share(60), 1)
        XCTAssertEqual(share(1), 1)
        XCTAssertEqual(share(0), 1)
        XCTAssertEqual(Reconciler.resyncShare(of: 40, period: .milliseconds(200), tick: .milliseconds(250)), 40,
                       "a period shorter than two ticks re-checks everything on the next tick")
    }
}

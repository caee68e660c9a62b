import Proxy
@testable import Traffic
import XCTest

/// The dispatch rules, directly: least busy under the limit, FIFO queue, bounded, slots handed
/// over, drained instances left alone.
final class DispatchStateTests: XCTestCase {
    func upstream(_ instance: Int) -> Upstream {
        Upstream(containerID: "c", revision: 1, instance: instance, host: "10.0.0.\(instance + 2)", port: 8080)
    }

    func id(_ instance: Int) -> String { instance == 0 ? "c-r1" : "c-r1-i\(instance)" }

    func testAtConcurrencyOneNoInstanceEverHoldsTwoAndWaitersGoInOrder() {
        var state = DispatchState(concurrency: 1, queueLimit: 10)
        XCTAssertTrue(state.update(ready: [id(0): upstream(0), id(1): upstream(1)], concurrency: 1).isEmpty)
        XCTAssertEqual(state.arrive(1), .send(upstream(0)), "ties go to the first instance")
        XCTAssertEqual(state.arrive(2), .send(upstream(1)), "then the least busy")
        XCTAssertEqual(state.arrive(3), .wait)
        XCTAssertEqual(state.arrive(4), .wait)
        XCTAssertEqual(state.inFlight(id(0)), 1)
        XCTAssertEqual(state.inFlight(id(1)), 1)
        XCTAssertEqual(state.queued, 2)
        let handed = state.finished(id(1))
        XCTAssertEqual(handed.map(\.waiter), [3], "the longest waiter first")
        XCTAssertEqual(handed.first?.upstream, upstream(1))
        XCTAssertEqual(state.inFlight(id(1)), 1, "the slot went straight to the waiter")
        XCTAssertEqual(state.arrive(5), .wait, "a newcomer does not pass the queue")
        let next = state.update(ready: [id(0): upstream(0), id(1): upstream(1), id(2): upstream(2)], concurrency: 1)
        XCTAssertEqual(next.map(\.waiter), [4], "a new instance takes the next waiter")
        XCTAssertEqual(next.first?.upstream, upstream(2))
        XCTAssertEqual(state.queued, 1)
    }

    /// The proxy's task-free path: what `arrive` would send or refuse, and nil, with nothing
    /// queued, where it would wait.
    func testArrivingWithoutWaitingSendsOrRefusesAndNeverQueues() {
        var state = DispatchState(concurrency: 1, queueLimit: 1)
        _ = state.update(ready: [id(0): upstream(0)], concurrency: 1)
        XCTAssertEqual(state.arriveWithoutWaiting(), .send(upstream(0)))
        XCTAssertNil(state.arriveWithoutWaiting(), "the instance is at its limit: the request would wait")
        XCTAssertEqual(state.queued, 0, "and nothing was queued for it")
        XCTAssertEqual(state.inFlight(id(0)), 1)
        XCTAssertEqual(state.arrive(7), .wait)
        XCTAssertEqual(state.arriveWithoutWaiting(), .refuse, "the queue is full")
        XCTAssertEqual(state.finished(id(0)).map(\.waiter), [7])
        XCTAssertNil(state.arriveWithoutWaiting(), "the freed slot went to the waiter")
        _ = state.finished(id(0))
        XCTAssertEqual(state.arriveWithoutWaiting(), .send(upstream(0)))
    }

    func testNoLimitSendsEverythingToTheLeastBusyAndNeverQueues() {
        var state = DispatchState(concurrency: 0, queueLimit: 0)
        _ = state.update(ready: [id(0): upstream(0)], concurrency: 0)
        for waiter in 1...50 { XCTAssertEqual(state.arrive(UInt64(waiter)), .send(upstream(0))) }
        XCTAssertEqual(state.inFlight, 50)
    }

    func testAFullQueueRefusesAndAnAbandonedWaiterLeavesIt() {
        var state = DispatchState(concurrency: 1, queueLimit: 2)
        _ = state.update(ready: [id(0): upstream(0)], concurrency: 1)
        XCTAssertEqual(state.arrive(1), .send(upstream(0)))
        XCTAssertEqual(state.arrive(2), .wait)
        XCTAssertEqual(state.arrive(3), .wait)
        XCTAssertEqual(state.arrive(4), .refuse)
        XCTAssertTrue(state.abandon(2))
        XCTAssertFalse(state.abandon(2), "only once")
        XCTAssertEqual(state.arrive(5), .wait, "room again")
        XCTAssertEqual(state.finished(id(0)).map(\.waiter), [3])
    }

    func testADrainedInstanceTakesNothingNewAndGoesWhenItsRequestsEnd() {
        var state = DispatchState(concurrency: 2, queueLimit: 10)
        _ = state.update(ready: [id(0): upstream(0), id(1): upstream(1)], concurrency: 2)
        XCTAssertEqual(state.arrive(1), .send(upstream(0)))
        XCTAssertEqual(state.arrive(2), .send(upstream(1)))
        state.drain(id(1))
        XCTAssertEqual(state.arrive(3), .send(upstream(0)))
        XCTAssertEqual(state.arrive(4), .wait, "the drained instance's free slot is not used")
        _ = state.update(ready: [id(0): upstream(0), id(1): upstream(1)], concurrency: 2)
        XCTAssertEqual(state.queued, 1, "a drained instance stays out even while it still runs")
        XCTAssertTrue(state.finished(id(1)).isEmpty)
        XCTAssertEqual(state.inFlight(id(1)), 0)
        XCTAssertNil(state.instances[id(1)], "forgotten once its requests ended")
        state.drained(id(1))
        XCTAssertEqual(state.update(ready: [id(0): upstream(0), id(1): upstream(1)], concurrency: 2).map(\.waiter), [4],
                       "the same id started again takes requests")
    }

    func testAnInstanceThatLeftTheReadySetKeepsItsCountUntilItsRequestsEnd() {
        var state = DispatchState(concurrency: 1, queueLimit: 10)
        _ = state.update(ready: [id(0): upstream(0)], concurrency: 1)
        XCTAssertEqual(state.arrive(1), .send(upstream(0)))
        // A rollout: the serving revision's first instance is another one now.
        let next = Upstream(containerID: "c", revision: 2, instance: 0, host: "10.0.0.9", port: 8080)
        _ = state.update(ready: ["c-r2": next], concurrency: 1)
        XCTAssertEqual(state.inFlight(id(0)), 1)
        XCTAssertEqual(state.arrive(2), .send(next))
        XCTAssertTrue(state.finished(id(0)).isEmpty)
        XCTAssertNil(state.instances[id(0)])
        XCTAssertEqual(state.inFlight, 1)
    }
}

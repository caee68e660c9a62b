import BerthModel
@testable import Traffic
import XCTest

/// The autoscaler's decisions on a synthetic clock: stable and panic windows, a queue scaling up
/// at once, scale-down one instance at a time after the delay, and the bounds.
final class AutoscalerStateTests: XCTestCase {
    let settings = AutoscalerSettings(stableWindow: .seconds(60), panicWindow: .seconds(6), scaleDownDelay: .seconds(30),
                                      tick: .seconds(1))
    let policy = ScalingPolicy(concurrency: 10, minInstances: 0, maxInstances: 8)
    let start = ContinuousClock.now

    /// Feeds `load` once a second for `seconds`, deciding after each sample.
    func run(_ state: inout AutoscalerState, load: Int, seconds: Int, from: Int, queued: Int = 0,
             policy: ScalingPolicy? = nil) -> [Int] {
        (from..<(from + seconds)).map { second in
            let now = start + .seconds(second)
            state.observe(load, at: now, settings: settings)
            return state.decide(policy: policy ?? self.policy, queued: queued, ready: state.target, now: now, settings: settings)
        }
    }

    func testSteadyLoadAsksForLoadOverSeventyPercentOfConcurrency() {
        var state = AutoscalerState(target: 1)
        // 21 in flight at concurrency 10: 21 / 7 = 3 instances.
        let targets = run(&state, load: 21, seconds: 61, from: 0)
        XCTAssertEqual(targets.last, 3)
        XCTAssertFalse(targets.contains { $0 > 3 }, "\(targets)")
    }

    func testABurstPanicsToItsNeedAtOnceAndHoldsForAStableWindow() {
        var state = AutoscalerState(target: 1)
        _ = run(&state, load: 1, seconds: 60, from: 0)
        XCTAssertEqual(state.target, 1)
        let burst = run(&state, load: 50, seconds: 6, from: 60)
        // Two seconds in, the panic window's average is (4 × 1 + 2 × 50) / 6, 3 instances: more
        // than twice 1, a panic; the stable window alone would still ask for 1.
        XCTAssertEqual(burst[1], 3, "\(burst)")
        XCTAssertTrue(state.isPanicking)
        XCTAssertEqual(burst.last, 8, "the whole panic window at 50: 50 / 7, clamped to maxInstances")
        // The burst stops: no scale-down while panicking (a stable window after the last trigger).
        let after = run(&state, load: 0, seconds: 50, from: 66)
        XCTAssertEqual(Set(after), [8], "\(after)")
    }

    func testScaleDownGoesOneInstanceAtATimeAfterTheDelay() {
        var state = AutoscalerState(target: 1)
        _ = run(&state, load: 28, seconds: 120, from: 0)
        XCTAssertEqual(state.target, 4)
        let down = run(&state, load: 0, seconds: 240, from: 120)
        XCTAssertEqual(down.last, 1, "back to the minimum (never 0: that is the idle tiers')")
        // Each step is one instance, and steps are at least the delay apart.
        var changes: [(second: Int, target: Int)] = []
        var previous = 4
        for (offset, target) in down.enumerated() where target != previous {
            XCTAssertEqual(previous - target, 1, "one at a time: \(down)")
            changes.append((offset, target))
            previous = target
        }
        XCTAssertEqual(changes.count, 3)
        for (a, b) in zip(changes, changes.dropFirst()) {
            XCTAssertGreaterThanOrEqual(b.second - a.second, 30, "\(changes)")
        }
    }

    func testAQueueAddsWhatItNeedsOnceTheAskedInstancesAreReady() {
        var state = AutoscalerState(target: 1)
        let concurrencyOne = ScalingPolicy(concurrency: 1, minInstances: 0, maxInstances: 4)
        let now = start
        state.observe(1, at: now, settings: settings)
        XCTAssertEqual(state.decide(policy: concurrencyOne, queued: 15, ready: 1, now: now, settings: settings), 4)
        // While those are starting, more queued requests do not ask for more than the bound.
        XCTAssertEqual(state.decide(policy: concurrencyOne, queued: 15, ready: 1, now: now, settings: settings), 4)
    }

    func testTheBoundsAlwaysHold() {
        var state = AutoscalerState(target: 1)
        let pinned = ScalingPolicy(concurrency: 10, minInstances: 2, maxInstances: 3)
        XCTAssertEqual(run(&state, load: 0, seconds: 5, from: 0, policy: pinned).last, 2, "minInstances")
        XCTAssertEqual(run(&state, load: 1000, seconds: 70, from: 5, policy: pinned).last, 3, "maxInstances")
        let lowered = ScalingPolicy(concurrency: 10, minInstances: 0, maxInstances: 1)
        XCTAssertEqual(run(&state, load: 1000, seconds: 1, from: 75, policy: lowered).last, 1, "a lowered maximum applies at once")
    }

    func testNoLimitAimsAtAHundredPerInstance() {
        var state = AutoscalerState(target: 1)
        let unlimited = ScalingPolicy(concurrency: 0, minInstances: 0, maxInstances: 10)
        XCTAssertEqual(run(&state, load: 250, seconds: 61, from: 0, policy: unlimited).last, 3)
    }
}

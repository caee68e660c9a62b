import BerthModel
@testable import Reconciler
import Store
import XCTest

/// How many instances run: the target within the revision's bounds, and above the reservation
/// only what the node has left.
final class InstanceBudgetTests: XCTestCase {
    let one = ResourceAmounts(milliCPU: 1000, ram: 1 << 30, ephemeralStorage: 1 << 30)

    func testTheTargetIsClampedToTheRevisionsBounds() {
        let policy = ScalingPolicy(concurrency: 1, minInstances: 2, maxInstances: 5)
        for (target, expected) in [(nil, 2), (0, 2), (3, 3), (9, 5)] as [(Int?, Int)] {
            let budget = InstanceBudget(policy: policy, target: target, perInstance: one, node: .unlimited,
                                        reserved: ResourceAmounts(), granted: ResourceAmounts())
            XCTAssertEqual(budget.count, expected, "target \(String(describing: target))")
            XCTAssertNil(budget.shortfall)
        }
        let scalesToZero = InstanceBudget(policy: ScalingPolicy(maxInstances: 3), target: nil, perInstance: one,
                                          node: .unlimited, reserved: ResourceAmounts(), granted: ResourceAmounts())
        XCTAssertEqual(scalesToZero.count, 1, "one instance: zero is the idle tiers'")
    }

    func testInstancesAboveTheReservationTakeOnlyWhatIsLeftAndSayWhyTheRestWait() {
        // 4 cores: 2 reserved by everyone (this container's one instance among them), 1 granted
        // to another container's extra instance: room for one more here.
        let node = ResourceLimits(cpu: 4, ram: 64 << 30)
        let budget = InstanceBudget(policy: ScalingPolicy(concurrency: 1, maxInstances: 4), target: 4, perInstance: one,
                                    node: node, reserved: ResourceAmounts(milliCPU: 2000, ram: 2 << 30),
                                    granted: ResourceAmounts(milliCPU: 1000, ram: 1 << 30))
        XCTAssertEqual(budget.count, 2)
        XCTAssertEqual(budget.shortfall, "2 of 4 instances wait for node capacity (cpu: 1 per instance, 1 unreserved)")
        // The reserved instances always run, whatever is left.
        let full = InstanceBudget(policy: ScalingPolicy(concurrency: 1, minInstances: 2, maxInstances: 4), target: 4,
                                  perInstance: one, node: node, reserved: ResourceAmounts(milliCPU: 4000, ram: 4 << 30),
                                  granted: ResourceAmounts())
        XCTAssertEqual(full.count, 2)
        XCTAssertNotNil(full.shortfall)
    }
}

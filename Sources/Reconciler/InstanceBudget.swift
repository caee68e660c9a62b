import BerthModel
import Store

/// How many instances of a serving revision run: the autoscaler's target within the revision's
/// bounds (`minInstances`, at least one, up to `maxInstances`); those above what the store
/// reserved (`reservedInstances`) only while the node has that much left unreserved. A pure
/// function of its inputs, so the rules are tested directly.
struct InstanceBudget: Sendable, Equatable {
    /// Instances to run.
    var count: Int
    /// Why fewer than the target run, when the node is short.
    var shortfall: String?

    /// - Parameters:
    ///   - target: what the autoscaler asked for; nil before it has (the minimum then).
    ///   - node: the node's limits (capacity minus headroom).
    ///   - reserved: what every container reserves in the store.
    ///   - granted: what instances above their reservation already hold, other containers'.
    init(policy: ScalingPolicy, target: Int?, perInstance: ResourceAmounts, node: ResourceLimits,
         reserved: ResourceAmounts, granted: ResourceAmounts) {
        let asked = min(max(target ?? 0, policy.minInstances, 1), policy.maxInstances)
        let base = min(policy.reservedInstances, asked)
        var extra = asked - base
        var short: [String] = []
        for resource in ReservedResource.allCases where extra > 0 && perInstance[resource] > 0 {
            guard let limit = node.bounds[resource] else { continue }
            let free = max(0, limit - reserved[resource] - granted[resource])
            let fits = Int(free / perInstance[resource])
            if fits < extra {
                extra = fits
                short.append("\(resource.rawValue): \(ResourceAmounts.format(perInstance[resource], of: resource)) per instance, "
                             + "\(ResourceAmounts.format(free, of: resource)) unreserved")
            }
        }
        count = base + extra
        shortfall = count < asked
            ? "\(asked - count) of \(asked) instances wait for node capacity (\(short.joined(separator: "; ")))"
            : nil
    }
}

/// The instances asked of the reconciler, in memory: the autoscaler's targets, what the
/// instances above their reservation were granted, and why some wait. A berthd that restarts
/// starts from the minimum and the autoscaler asks again.
struct ScaleBook: Sendable {
    var targets: [String: Int] = [:]
    /// Per container: one instance's request times its instances above the reservation.
    var grants: [String: ResourceAmounts] = [:]
    var shortfalls: [String: String] = [:]
    /// What the last pass decided, per container: the serving revision's instance count.
    private(set) var planned: [String: Int] = [:]
    /// Counts changes of `planned`.
    private(set) var version: UInt64 = 0

    mutating func plan(_ count: Int, for containerID: String) {
        if planned.updateValue(count, forKey: containerID) != count { version &+= 1 }
    }

    func granted(exceptFor containerID: String) -> ResourceAmounts {
        grants.filter { $0.key != containerID }.values.reduce(ResourceAmounts(), +)
    }

    mutating func forget(_ containerID: String) {
        targets[containerID] = nil
        grants[containerID] = nil
        shortfalls[containerID] = nil
        planned[containerID] = nil
    }
}

/// When to restart a container that exited, as the kubelet does: 10 s, doubling to 5 min, and
/// back to 10 s once a run lasted 10 min.
public struct RestartBackoff: Sendable, Equatable {
    public struct Policy: Sendable, Equatable {
        public var initial: Duration
        public var max: Duration
        public var resetAfter: Duration

        public init(initial: Duration, max: Duration, resetAfter: Duration) {
            self.initial = initial
            self.max = max
            self.resetAfter = resetAfter
        }

        public static let kubelet = Policy(initial: .seconds(10), max: .seconds(300), resetAfter: .seconds(600))
    }

    public let policy: Policy
    /// Restarts since the last reset.
    public private(set) var restarts = 0
    private var current: Duration?

    public init(policy: Policy) {
        self.policy = policy
    }

    /// The delay before the next start, given how long the run that just ended lasted.
    public mutating func delay(afterRunOf uptime: Duration) -> Duration {
        if uptime >= policy.resetAfter {
            current = nil
            restarts = 0
        }
        let next = current.map { min($0 * 2, policy.max) } ?? policy.initial
        current = next
        restarts += 1
        return next
    }
}

/// When to restart a container that exited (or retry a pull that failed), as the kubelet does:
/// 10 s, doubling to 5 min, and back to 10 s once a run lasted 10 min; each delay moved by up to
/// ±`jitter` of itself, so that many containers that failed together (a registry down, a node
/// restarting) do not all retry in the same second, as a thousand did in bench/api, holding up
/// the API's requests every wave.
public struct RestartBackoff: Sendable, Equatable {
    public struct Policy: Sendable, Equatable {
        public var initial: Duration
        public var max: Duration
        public var resetAfter: Duration
        /// A fraction (0 to 0.5): each delay is the doubled one times a random factor in
        /// 1 ± `jitter`.
        public var jitter: Double

        public init(initial: Duration, max: Duration, resetAfter: Duration, jitter: Double = 0) {
            self.initial = initial
            self.max = max
            self.resetAfter = resetAfter
            self.jitter = Swift.min(Swift.max(jitter, 0), 0.5)
        }

        public static let kubelet = Policy(initial: .seconds(10), max: .seconds(300), resetAfter: .seconds(600), jitter: 0.2)
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
        guard policy.jitter > 0 else { return next }
        return next * Double.random(in: (1 - policy.jitter)...(1 + policy.jitter))
    }
}

/// How a revision scales on the node: how many requests one instance takes at once, how many
/// instances may run, and how long a request may take. Stored with the revision, like the rest
/// of its spec, so a rollout changes it and a rollback restores it.
///
/// The defaults keep a container what it was before instances existed: one instance, no limit
/// on the requests it takes at once, scaled to zero when idle. `minInstances` 1 is the old
/// `keepWarm: true`.
public struct ScalingPolicy: Hashable, Sendable, Codable {
    /// The most requests one instance serves at once; 0 sends it every request (no limit), as
    /// Knative's `containerConcurrency: 0`.
    public var concurrency: Int
    /// Instances kept running however idle the container is; 0 lets it scale to zero.
    public var minInstances: Int
    /// The most instances the autoscaler runs.
    public var maxInstances: Int
    /// How long a request may wait for its response once it was sent to an instance: past it,
    /// 504 (Cloud Run's and Knative's `timeoutSeconds`).
    public var timeoutSeconds: Int

    public static let defaultConcurrency = 0
    public static let defaultMaxInstances = 1
    public static let defaultTimeoutSeconds = 300
    /// Bounds the API enforces.
    public static let maximumConcurrency = 1000
    public static let maximumInstances = 100
    public static let maximumTimeoutSeconds = 3600
    /// The in-flight requests per instance the autoscaler aims at when `concurrency` is 0
    /// (Knative's `container-concurrency-target-default`).
    public static let unlimitedTarget = 100.0
    /// The share of `concurrency` the autoscaler aims at (Knative's target utilisation, 70 %), so
    /// that a new instance starts before every one is full.
    public static let targetUtilization = 0.7

    public init(concurrency: Int = defaultConcurrency, minInstances: Int = 0,
                maxInstances: Int = defaultMaxInstances, timeoutSeconds: Int = defaultTimeoutSeconds) {
        self.concurrency = concurrency
        self.minInstances = minInstances
        self.maxInstances = maxInstances
        self.timeoutSeconds = timeoutSeconds
    }

    public static let `default` = ScalingPolicy()

    /// Instances the store reserves capacity for: those that always run, and at least the one
    /// a request wakes.
    public var reservedInstances: Int { max(1, minInstances) }

    /// The requests in flight per instance the autoscaler aims at.
    public var targetPerInstance: Double {
        concurrency == 0 ? Self.unlimitedTarget : max(Double(concurrency) * Self.targetUtilization, 1)
    }

    public var timeout: Duration { .seconds(timeoutSeconds) }
}

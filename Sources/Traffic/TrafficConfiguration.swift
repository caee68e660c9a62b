/// How invocations reach containers and when idle ones scale to zero.
public struct TrafficConfiguration: Sendable {
    /// Containers are invoked at <name>.<domain> (or <id>.<domain>).
    public var domain: String
    /// After this long without a request, a container is paused (cgroup freezer); zero: never.
    public var pauseAfter: Duration
    /// After this long without a request, a container is stopped; zero: never.
    public var stopAfter: Duration
    /// How long a request waits for a container that starts or wakes before it gets 503.
    public var wakeTimeout: Duration
    /// How long a retiring revision may take to finish the requests it is serving.
    public var drainTimeout: Duration
    /// Requests that may wait per container while every instance is at its `concurrency`;
    /// one more gets 503 with Retry-After.
    public var queueLimit: Int
    public var autoscaler: AutoscalerSettings

    public init(domain: String, pauseAfter: Duration = .seconds(60), stopAfter: Duration = .seconds(900),
                wakeTimeout: Duration = .seconds(30), drainTimeout: Duration = .seconds(30), queueLimit: Int = 1000,
                autoscaler: AutoscalerSettings = AutoscalerSettings()) {
        self.domain = domain
        self.pauseAfter = pauseAfter
        self.stopAfter = stopAfter
        self.wakeTimeout = wakeTimeout
        self.drainTimeout = drainTimeout
        self.queueLimit = queueLimit
        self.autoscaler = autoscaler
    }
}

import BerthModel

/// The autoscaler's settings: Knative's KPA windows and Berth's scale-down pacing.
public struct AutoscalerSettings: Sendable, Equatable {
    /// Observed concurrency is averaged over this window for the steady decision (Knative: 60 s).
    public var stableWindow: Duration
    /// And over this one to react to bursts (Knative: 6 s, a tenth of the stable window).
    public var panicWindow: Duration
    /// An instance goes only after the load has asked for fewer for this long, one at a time.
    public var scaleDownDelay: Duration
    /// How often concurrency is sampled and the decision taken.
    public var tick: Duration

    public init(stableWindow: Duration = .seconds(60), panicWindow: Duration = .seconds(6),
                scaleDownDelay: Duration = .seconds(30), tick: Duration = .milliseconds(500)) {
        self.stableWindow = stableWindow
        self.panicWindow = panicWindow
        self.scaleDownDelay = scaleDownDelay
        self.tick = tick
    }
}

/// One container's autoscaler, as Knative's KPA: desired instances are the average concurrency
/// (requests in flight plus queued) over the stable window divided by the per-instance target
/// (`concurrency` × 0.7, or 100 with no limit), clamped to the revision's bounds. When the panic
/// window's average asks for twice what runs, it panics: it scales to that at once and does
/// not scale down until a stable window has passed without another panic. A non-empty queue
/// adds instances for what waits at once, once those asked for are ready. Scaling down goes one
/// instance at a time, each after `scaleDownDelay` of asking for fewer.
///
/// Never below one: zero is the idle tiers' (pause, then stop), which take the last instance
/// down when no request comes.
struct AutoscalerState: Sendable {
    private struct Sample: Sendable {
        var at: ContinuousClock.Instant
        var concurrency: Double
    }

    private var samples: [Sample] = []
    private var panicUntil: ContinuousClock.Instant?
    private var fewerSince: ContinuousClock.Instant?
    /// The instances asked for by the last decision.
    private(set) var target: Int

    init(target: Int) {
        self.target = max(1, target)
    }

    var isPanicking: Bool { panicUntil != nil }

    /// One sample of requests in flight plus queued.
    mutating func observe(_ concurrency: Int, at now: ContinuousClock.Instant, settings: AutoscalerSettings) {
        samples.append(Sample(at: now, concurrency: Double(concurrency)))
        let oldest = now - settings.stableWindow
        if let keep = samples.firstIndex(where: { $0.at > oldest }), keep > 0 { samples.removeFirst(keep) }
    }

    /// The instances to run now.
    mutating func decide(policy: ScalingPolicy, queued: Int, ready: Int, now: ContinuousClock.Instant,
                         settings: AutoscalerSettings) -> Int {
        let perInstance = policy.targetPerInstance
        let lower = max(1, policy.minInstances)
        let upper = max(lower, policy.maxInstances)
        let stable = (average(since: now - settings.stableWindow) / perInstance).rounded(.up)
        let burst = (average(since: now - settings.panicWindow) / perInstance).rounded(.up)
        var wanted = Int(min(stable, Double(upper)))
        if burst >= Double(2 * target), Int(min(burst, Double(upper))) > target {
            panicUntil = now + settings.stableWindow
        }
        if let until = panicUntil {
            if now >= until {
                panicUntil = nil
            } else {
                wanted = max(wanted, Int(min(burst, Double(upper))), target)
            }
        }
        // Requests wait: what they need, at once, unless instances asked for are still starting.
        if queued > 0, ready >= target {
            let slots = policy.concurrency == 0 ? queued : (queued + policy.concurrency - 1) / policy.concurrency
            wanted = max(wanted, target + slots)
        }
        wanted = min(max(wanted, lower), upper)
        if wanted >= target {
            fewerSince = nil
            target = wanted
        } else if let since = fewerSince {
            if now - since >= settings.scaleDownDelay {
                target -= 1
                fewerSince = target > wanted ? now : nil
            }
        } else {
            fewerSince = now
        }
        // A bound lowered by a rollout applies at once.
        target = min(max(target, lower), upper)
        return target
    }

    private func average(since start: ContinuousClock.Instant) -> Double {
        let window = samples.filter { $0.at > start }
        guard !window.isEmpty else { return 0 }
        return window.reduce(0) { $0 + $1.concurrency } / Double(window.count)
    }
}

import Proxy
import Runtime

/// The phases of one wake-up a request waited for, from the runtime's start timeline: what the
/// metrics record and what the response's `Server-Timing` header says.
struct ColdStart: Sendable {
    var phases: [(phase: ColdStartPhase, duration: Duration)]

    /// From a stop or a first start: each step of the start, counted from the request on (a
    /// start already under way when it came counts only what the request waited for).
    init(requestedAt: ContinuousClock.Instant, timeline: StartTimeline) {
        var phases: [(ColdStartPhase, Duration)] = []
        var previous = requestedAt
        for (phase, end) in [(ColdStartPhase.queued, Optional(timeline.began)), (.pulled, timeline.pulled),
                             (.started, timeline.launched), (.ready, timeline.ready)] {
            guard let end else { break }
            phases.append((phase, max(.zero, end - previous)))
            previous = max(previous, end)
        }
        self.phases = phases
    }

    /// From paused: the thaw.
    init(resumedIn duration: Duration) {
        phases = [(.resumed, duration)]
    }

    /// `queued;dur=0.1, pulled;dur=2.3, started;dur=41.0, ready;dur=12.5` (milliseconds).
    var serverTiming: String {
        phases.map { phase, duration in
            let milliseconds = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
            return "\(phase.rawValue);dur=\((milliseconds * 10).rounded() / 10)"
        }.joined(separator: ", ")
    }
}

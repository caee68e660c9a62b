import BerthClient

/// What the node said about a revision being deployed, at one poll.
struct DeploySnapshot: Sendable {
    var container: Container
    /// The revision watched, as the revisions list shows it (nil until it is listed).
    var revision: Revision?
    /// The container's instances, every revision's.
    var instances: [Instance]
}

/// Where a deploy of one revision stands, from the polls of it: a value-type state machine
/// (one mutating function per event, actions returned) that the waiter feeds and whose actions
/// the progress view carries out.
struct DeployWatch: Sendable {
    enum Phase: Equatable, Sendable {
        /// Recorded, waiting to start (for capacity or GPUs: the message says which).
        case pending(String?)
        case pulling
        /// Started, waiting to be ready and take the traffic.
        case starting
        /// Serving.
        case ready
        case failed(String)
        /// A newer revision was recorded before this one served.
        case superseded(Int)

        var rank: Int {
            switch self {
            case .pending: return 0
            case .pulling: return 1
            case .starting: return 2
            case .ready, .failed, .superseded: return 3
            }
        }

        var isFinal: Bool { rank == 3 }

        var name: String {
            switch self {
            case .pending: return "pending"
            case .pulling: return "pulling"
            case .starting: return "starting"
            case .ready: return "ready"
            case .failed: return "failed"
            case .superseded: return "superseded"
            }
        }
    }

    enum Action: Equatable, Sendable {
        /// The deploy entered a phase.
        case entered(Phase)
        /// The pull made progress.
        case pulled(PullProgress)
        /// The deploy is over: `phase` is ready, failed or superseded.
        case finished(Phase)
    }

    let revision: Int
    private(set) var phase: Phase?
    private(set) var lastPull: PullProgress?

    init(revision: Int) {
        self.revision = revision
    }

    mutating func observe(_ snapshot: DeploySnapshot) -> [Action] {
        guard phase?.isFinal != true else { return [] }
        var next = Self.phase(of: revision, in: snapshot)
        // Phases only go forward: a later poll that looks earlier (an instance added by the
        // autoscaler pulling again) does not take the deploy back.
        if let phase, next.rank < phase.rank { next = phase }
        var actions: [Action] = []
        // A revision that serves was started, even when it started between two polls: the
        // phase is shown, so every deploy that succeeds reads the same.
        if next == .ready, (phase?.rank ?? 0) < Phase.starting.rank {
            phase = .starting
            actions.append(.entered(.starting))
        }
        if next != phase {
            phase = next
            actions.append(.entered(next))
        }
        if next == .pulling, let pull = snapshot.container.pull, pull.revision == revision, pull != lastPull {
            lastPull = pull
            actions.append(.pulled(pull))
        }
        if next.isFinal { actions.append(.finished(next)) }
        return actions
    }

    static func phase(of number: Int, in snapshot: DeploySnapshot) -> Phase {
        switch snapshot.revision?.status {
        case "active": return .ready
        case "failed":
            return .failed(snapshot.revision?.statusMessage ?? snapshot.container.statusMessage ?? "the revision failed")
        case "retired": return .superseded(snapshot.container.newestRevision)
        default: break
        }
        // A first deploy has no older revision to fall back on: when it fails (a crash loop, a
        // pull refused) the container says so, and the node keeps retrying in the background.
        if snapshot.container.revision == number, snapshot.container.status == "failed" {
            return .failed(snapshot.container.statusMessage ?? "the container failed")
        }
        let own = snapshot.instances.filter { $0.revision == number }
        if snapshot.container.pull?.revision == number || own.contains(where: { $0.status == "pulling" }) {
            return .pulling
        }
        if own.contains(where: { ["starting", "running"].contains($0.status) }) { return .starting }
        return .pending(snapshot.container.newestRevision == number ? snapshot.container.statusMessage : nil)
    }
}

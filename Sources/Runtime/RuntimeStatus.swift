import Foundation

/// What the runtime knows about one revision, in terms a person can act on.
public struct RuntimeStatus: Sendable, Equatable {
    public enum Phase: String, Sendable, Equatable {
        /// Accepted, not yet worked on.
        case pending
        case pulling
        case starting
        /// Started and accepting connections on its port.
        case running
        /// Frozen (cgroup freezer) while idle: memory kept, no CPU; resumes in milliseconds.
        case paused
        /// Stopped on purpose (scaled to zero, or retired by a rollout).
        case stopped
        /// Not running and not about to be without help, or waiting out a restart back-off.
        case failed
        case deleted
    }

    public enum Reason: String, Sendable, Equatable {
        case exited
        case oomKilled
        case imagePullError
        case ephemeralStorageExceeded
        case crashLoop
        case notReady
        case startError
    }

    public var phase: Phase
    public var reason: Reason?
    public var message: String?
    public var pid: UInt32?
    public var address: String?
    public var port: Int?
    /// Restarts after crashes since the last reset of the back-off.
    public var restarts: Int
    public var lastExitCode: Int32?
    public var startedAt: Date?
    /// The digest the image reference resolved to, once pulled.
    public var imageDigest: String?
    /// When the phase last changed (set by the runtime as it publishes the status).
    public var since: Date?
    /// The steps of the last start, for cold-start timings; nil for an adopted task.
    public var startTimeline: StartTimeline?

    public init(phase: Phase, reason: Reason? = nil, message: String? = nil) {
        self.phase = phase
        self.reason = reason
        self.message = message
        self.restarts = 0
    }

    /// Where the proxy sends requests, when the revision is running.
    public var endpoint: (address: String, port: Int)? {
        guard phase == .running, let address, let port else { return nil }
        return (address, port)
    }

    public static func == (a: RuntimeStatus, b: RuntimeStatus) -> Bool {
        a.phase == b.phase && a.reason == b.reason && a.message == b.message && a.pid == b.pid
            && a.address == b.address && a.port == b.port && a.restarts == b.restarts
            && a.lastExitCode == b.lastExitCode && a.startedAt == b.startedAt && a.imageDigest == b.imageDigest
    }
}

/// When each step of a start ended: the pull began (the start was taken up), the image was
/// there, the task was started, it accepted connections.
public struct StartTimeline: Sendable, Equatable {
    public var began: ContinuousClock.Instant
    public var pulled: ContinuousClock.Instant?
    public var launched: ContinuousClock.Instant?
    public var ready: ContinuousClock.Instant?

    public init(began: ContinuousClock.Instant) {
        self.began = began
    }
}

import Foundation

/// One revision's lifecycle, as a value: one mutating function per event, each returning what the
/// executor (`TaskSupervisor`) must do. No I/O happens here, so every ordering can be tested
/// directly (`RevisionLifecycleTests`).
///
/// Intents (run, stop, pause, resume, delete) set the `goal`; at most one operation (pull,
/// launch, probe, stop, …) is under way, named by an `Operation` number, and its result is
/// ignored unless it names the current one. A newer intent supersedes the operation under way
/// where that is safe: a pull, a probe, an adoption check or a back-off timer is cancelled at once;
/// a launch is cancelled and waited for (it may have made a task); a pause, resume, stop or
/// clean-up runs to its end. When an operation ends, `advance()` starts what the goal asks next,
/// so a stop that arrives during a wake runs after it, and a wake during a stop starts the
/// container after the stop: nothing is lost and nothing interleaves.
struct RevisionLifecycle {
    typealias Operation = Int
    typealias Waiter = Int

    enum Goal: Equatable, Sendable { case running, paused, stopped, deleted }

    enum State: Equatable, Sendable {
        /// Nothing done yet by this berthd.
        case pending
        /// Looking for a task a previous berthd left running, to adopt it as it is.
        case adopting(Operation)
        case pulling(Operation)
        case launching(Operation)
        case probing(Operation, pid: UInt32)
        case running(pid: UInt32)
        case pausing(Operation, pid: UInt32)
        case paused(pid: UInt32)
        case resuming(Operation, pid: UInt32)
        case stopping(Operation)
        case stopped
        /// The task ended (or never became ready): deleting it before the restart back-off.
        case cleaningUp(Operation)
        case backingOff(Operation)
        /// Cannot run without a new revision (an image reference that does not parse).
        case failed
        case deleting(Operation)
        /// Removal failed; a new delete intent tries again.
        case deleteFailed
        case deleted
    }

    enum Action: Equatable, Sendable {
        case adopt(Operation)
        case pull(Operation)
        case launch(Operation)
        case probe(Operation, address: String, port: Int)
        case pause(Operation)
        case resume(Operation)
        /// SIGTERM, the grace period, SIGKILL; delete the task and release the address.
        case stop(Operation)
        /// Delete the ended task, killing it first when `kill` (it never became ready).
        case cleanUp(Operation, kill: Bool)
        /// Everything of the revision: task, container, snapshot, network, storage, logs.
        case remove(Operation)
        case timer(Operation, after: Duration)
        case cancel(Operation)
        /// Ask containerd whether the task `pid` still runs (events may have been missed).
        case check(pid: UInt32)
        case reply(Waiter, Answer)
    }

    enum Answer: Equatable, Sendable {
        /// Done, or settled: a waker reads `status` to learn how.
        case done
        case accepted(Bool)
        case failed(String)
    }

    /// Why a task ended, as the executor found out (exit code, OOM, full storage, last log lines).
    struct Exit: Equatable, Sendable {
        var code: Int32?
        var reason: RuntimeStatus.Reason
        var detail: String
    }

    let image: String
    let port: Int
    let grace: Duration
    // The rest is changed only by this type's functions (here and in RevisionLifecycle+Results);
    // the executor reads it.
    var state: State = .pending
    var goal: Goal = .stopped
    var status = RuntimeStatus(phase: .pending)
    var backoff: RestartBackoff
    var nextOperation = 0
    /// When the current task became ready: a run that lasted resets the back-off.
    var runningSince: ContinuousClock.Instant?
    /// Why the task that is being cleaned up ended, for the status once it is.
    var pendingExit: Exit?
    /// An exit of the task a launch under way made: containerd can report it (a process that
    /// exits at once) before the launch's result is in.
    var exitDuringLaunch: (pid: UInt32, exit: Exit)?
    var stopWaiters: [Waiter] = []
    var pauseWaiters: [Waiter] = []
    var resumeWaiters: [Waiter] = []
    var wakeWaiters: [Waiter] = []
    var deleteWaiters: [Waiter] = []

    init(image: String, port: Int, grace: Duration, backoff: RestartBackoff.Policy) {
        self.image = image
        self.port = port
        self.grace = grace
        self.backoff = RestartBackoff(policy: backoff)
    }

    /// The operation under way, if any.
    var operation: Operation? {
        switch state {
        case .adopting(let op), .pulling(let op), .launching(let op), .probing(let op, _), .pausing(let op, _),
             .resuming(let op, _), .stopping(let op), .cleaningUp(let op), .backingOff(let op), .deleting(let op):
            return op
        case .pending, .running, .paused, .stopped, .failed, .deleteFailed, .deleted:
            return nil
        }
    }

    /// The task's pid while one runs (or is frozen, or being probed).
    var pid: UInt32? {
        switch state {
        case .probing(_, let pid), .running(let pid), .pausing(_, let pid), .paused(let pid), .resuming(_, let pid):
            return pid
        default:
            return nil
        }
    }

    var isDeleted: Bool { state == .deleted }

    // MARK: - Intents

    /// Run the revision: start it, resume it, or adopt the task it has. `waiter` (a wake) is
    /// answered once it runs, or cannot for now (failed, backing off, deleted, stopped by a later
    /// intent).
    mutating func run(waiter: Waiter? = nil) -> [Action] {
        guard goal != .deleted else { return waiter.map { [.reply($0, .done)] } ?? [] }
        if let waiter { wakeWaiters.append(waiter) }
        goal = .running
        var actions: [Action] = []
        // A stop not under way yet is superseded; one under way finishes first.
        if case .stopping = state {} else { actions += Self.answer(&stopWaiters, .done) }
        return actions + advance() + settleWakers()
    }

    mutating func stop(waiter: Waiter? = nil) -> [Action] {
        guard goal != .deleted else { return waiter.map { [.reply($0, .done)] } ?? [] }
        if let waiter { stopWaiters.append(waiter) }
        goal = .stopped
        switch state {
        case .pending, .failed:
            // A task a previous berthd left may exist: the stop looks.
            return beginStop(message: nil)
        case .stopped:
            return Self.answer(&stopWaiters, .done) + settleWakers()
        default:
            return supersede() + advance() + settleWakers()
        }
    }

    /// Freeze the running task (idle). Answered true once frozen, false when it was not running.
    mutating func pause(waiter: Waiter) -> [Action] {
        switch state {
        case .running where goal == .running:
            pauseWaiters.append(waiter)
            goal = .paused
            return advance()
        case .pausing:
            pauseWaiters.append(waiter)
            return []
        case .paused:
            return [.reply(waiter, .accepted(true))]
        default:
            return [.reply(waiter, .accepted(false))]
        }
    }

    /// Thaw a frozen task. Answered true once it runs (after a restart, if thawing failed).
    mutating func resume(waiter: Waiter) -> [Action] {
        switch state {
        case .running:
            return [.reply(waiter, .accepted(true))]
        case .pausing, .paused, .resuming:
            resumeWaiters.append(waiter)
            goal = .running
            return advance()
        default:
            return [.reply(waiter, .accepted(false))]
        }
    }

    mutating func delete(waiter: Waiter? = nil) -> [Action] {
        if state == .deleted { return waiter.map { [.reply($0, .done)] } ?? [] }
        if let waiter { deleteWaiters.append(waiter) }
        goal = .deleted
        status = RuntimeStatus(phase: .deleted, message: "deleting")
        var actions = supersede()
        if state == .deleteFailed { actions += beginRemoval() }
        actions += advance()
        // Wakers learn at once that this revision is going: they route again.
        return actions + settleWakers()
    }

    /// A waiter whose caller gave up (a wake timed out): answered now, a waker with
    /// `.accepted(false)` (not settled).
    mutating func forget(_ waiter: Waiter) -> [Action] {
        for list in [\Self.stopWaiters, \.pauseWaiters, \.resumeWaiters, \.wakeWaiters, \.deleteWaiters] {
            if let index = self[keyPath: list].firstIndex(of: waiter) {
                self[keyPath: list].remove(at: index)
                return [.reply(waiter, list == \Self.stopWaiters || list == \Self.deleteWaiters ? .done : .accepted(false))]
            }
        }
        return []
    }

    /// Cancels what a stop or a delete makes pointless: a pull, a probe, an adoption check or a
    /// back-off at once; a launch is cancelled and waited for (it may have made a task); a pause,
    /// resume, stop or clean-up runs to its end.
    mutating func supersede() -> [Action] {
        guard goal == .stopped || goal == .deleted else { return [] }
        switch state {
        case .adopting(let op), .pulling(let op), .backingOff(let op), .probing(let op, _):
            return [.cancel(op)] + (goal == .deleted ? beginRemoval() : beginStop(message: nil))
        case .launching(let op):
            return goal == .deleted ? [.cancel(op)] : []
        default:
            return []
        }
    }

    // MARK: - Deciding what comes next

    /// Starts the operation the goal asks for when none is under way.
    mutating func advance() -> [Action] {
        guard operation == nil else { return [] }
        switch (goal, state) {
        case (.deleted, .deleted), (.deleted, .deleteFailed):
            return []
        case (.deleted, _):
            return beginRemoval()
        case (.stopped, .running), (.stopped, .paused):
            return beginStop(message: nil)
        case (.paused, .running(let pid)):
            // Said at once: a request that comes now is held (and wakes it) rather than sent
            // to a task about to freeze.
            state = .pausing(next(), pid: pid)
            setStatus(.paused, message: "pausing")
            return [.pause(operation!)]
        case (.running, .pending):
            state = .adopting(next())
            setStatus(.pending, message: nil)
            return [.adopt(operation!)]
        case (.running, .stopped):
            return beginPull()
        case (.running, .paused(let pid)):
            state = .resuming(next(), pid: pid)
            return [.resume(operation!)]
        default:
            return settleWakers()
        }
    }

    mutating func beginPull(now: ContinuousClock.Instant = .now) -> [Action] {
        state = .pulling(next())
        status.startTimeline = StartTimeline(began: now)
        setStatus(.pulling, message: "pulling \(image)")
        return [.pull(operation!)]
    }

    mutating func beginStop(message: String?) -> [Action] {
        state = .stopping(next())
        if goal == .stopped {
            setStatus(.stopped, message: message ?? "stopping: SIGTERM, then SIGKILL after \(Self.seconds(grace))")
        } else {
            setStatus(.starting, message: message)
        }
        return [.stop(operation!)]
    }

    mutating func beginRemoval() -> [Action] {
        state = .deleting(next())
        return [.remove(operation!)]
    }

    /// A failed attempt: wait out the back-off, then pull and launch again.
    mutating func retryLater(_ reason: RuntimeStatus.Reason, _ message: String) -> [Action] {
        let delay = backoff.delay(afterRunOf: .zero)
        state = .backingOff(next())
        status.phase = .failed
        status.reason = reason
        status.message = "\(message); retrying in \(Self.seconds(delay))"
        status.pid = nil
        return [.timer(operation!, after: delay)] + settleWakers()
    }

    /// Answers the wakers and resumers once the revision runs or cannot run for now.
    mutating func settleWakers() -> [Action] {
        switch state {
        case .running:
            return Self.answer(&wakeWaiters, .done) + Self.answer(&resumeWaiters, .accepted(true))
        case .backingOff, .failed, .deleting, .deleteFailed, .deleted:
            return Self.answer(&wakeWaiters, .done) + Self.answer(&resumeWaiters, .accepted(false))
        case .stopped, .stopping where goal == .stopped:
            return Self.answer(&wakeWaiters, .done) + Self.answer(&resumeWaiters, .accepted(false))
        case .paused where goal == .paused:
            return Self.answer(&wakeWaiters, .done) + Self.answer(&resumeWaiters, .accepted(false))
        default:
            return goal == .deleted ? Self.answer(&wakeWaiters, .done) + Self.answer(&resumeWaiters, .accepted(false)) : []
        }
    }

    // MARK: - Helpers

    mutating func next() -> Operation {
        nextOperation += 1
        return nextOperation
    }

    static func answer(_ waiters: inout [Waiter], _ answer: Answer) -> [Action] {
        defer { waiters.removeAll() }
        return waiters.map { .reply($0, answer) }
    }

    /// Every waiter, once the revision is gone.
    mutating func answerAll(deleted: Answer) -> [Action] {
        Self.answer(&stopWaiters, .done) + Self.answer(&pauseWaiters, .accepted(false)) + Self.answer(&resumeWaiters, .accepted(false))
            + Self.answer(&wakeWaiters, .done) + Self.answer(&deleteWaiters, deleted)
    }

    mutating func setStatus(_ phase: RuntimeStatus.Phase, message: String?) {
        guard goal != .deleted else { return }
        status.phase = phase
        status.message = message
        if phase != .failed { status.reason = nil }
    }

    static func seconds(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return String(format: "%g s", value)
    }
}

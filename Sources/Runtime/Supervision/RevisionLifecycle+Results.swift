import Foundation

/// What the executor reports back: the end of an operation, a task event, a reconnect. A result
/// that does not name the operation under way is stale (it was superseded) and changes nothing.
extension RevisionLifecycle {
    /// A task found in containerd when this berthd first supervises the revision.
    struct FoundTask: Equatable, Sendable {
        var pid: UInt32
        var address: String
        var paused: Bool
    }

    enum PullFailure: Equatable, Sendable {
        /// Worth another try after the back-off (registry down, timed out, …).
        case retryable(String)
        /// Cannot work for this revision (the reference does not parse).
        case permanent(String)
    }

    /// The reconciler's way in: run the revision unless the traffic controller made it idle
    /// (paused or stopped for want of requests); only a request (`run`) wakes that. The first
    /// time, a task left by a previous berthd is adopted.
    mutating func deploy() -> [Action] {
        guard goal != .deleted else { return [] }
        if state == .pending {
            goal = .running
            return advance()
        }
        // Paused or stopped by the traffic controller: only a request (`run`) wakes it.
        guard goal == .running else { return [] }
        return advance()
    }

    mutating func adopted(_ op: Operation, _ found: FoundTask?) -> [Action] {
        guard state == .adopting(op) else { return [] }
        guard let found else { return beginPull() }
        status.pid = found.pid
        status.address = found.address
        status.port = port
        if found.paused {
            // A frozen task cannot answer a probe; it stays frozen until a request wakes it.
            state = .paused(pid: found.pid)
            setStatus(.paused, message: nil)
            if wakeWaiters.isEmpty, resumeWaiters.isEmpty { goal = .paused }
            return advance() + settleWakers()
        }
        return beginProbe(pid: found.pid)
    }

    mutating func pulled(_ op: Operation, digest: String, now: ContinuousClock.Instant = .now) -> [Action] {
        guard state == .pulling(op) else { return [] }
        status.startTimeline?.pulled = now
        exitDuringLaunch = nil
        state = .launching(next())
        status.imageDigest = digest
        setStatus(.starting, message: "starting")
        return [.launch(operation!)]
    }

    mutating func pullFailed(_ op: Operation, _ failure: PullFailure) -> [Action] {
        guard state == .pulling(op) else { return [] }
        switch failure {
        case .retryable(let message):
            return retryLater(.imagePullError, "pulling \(image): \(message)")
        case .permanent(let message):
            state = .failed
            status.phase = .failed
            status.reason = .imagePullError
            status.message = message
            return settleWakers()
        }
    }

    /// The launch ended: with a task (`pid`, its address), or with `failure`. After a cancelled
    /// launch (a delete), whatever it made goes with the removal.
    mutating func launched(_ op: Operation, pid: UInt32?, address: String?, failure: String?,
                           now: ContinuousClock.Instant = .now) -> [Action] {
        guard state == .launching(op) else { return [] }
        if goal == .deleted { return beginRemoval() }
        guard let pid, let address, failure == nil else {
            if goal == .stopped { return beginStop(message: nil) }
            return retryLater(.startError, "starting: \(failure ?? "no task")")
        }
        status.pid = pid
        status.address = address
        status.port = port
        status.startTimeline?.launched = now
        if let early = exitDuringLaunch, early.pid == pid {
            // It already ended: handled as any exit, after the launch.
            exitDuringLaunch = nil
            state = .running(pid: pid)
            if goal == .running || goal == .paused { return taskExited(pid: pid, early.exit) }
        }
        // A stop that came during the launch runs now, after it.
        if goal == .stopped {
            state = .running(pid: pid)
            return advance() + settleWakers()
        }
        return beginProbe(pid: pid)
    }

    private mutating func beginProbe(pid: UInt32) -> [Action] {
        state = .probing(next(), pid: pid)
        setStatus(.starting, message: "waiting for port \(port)")
        return [.probe(operation!, address: status.address ?? "", port: port)]
    }

    mutating func probed(_ op: Operation, ready: Bool, timeout: Duration, now: ContinuousClock.Instant) -> [Action] {
        guard case .probing(op, let pid) = state else { return [] }
        if ready {
            state = .running(pid: pid)
            runningSince = now
            status.startTimeline?.ready = now
            setStatus(.running, message: nil)
            status.startedAt = Date()
            return settleWakers() + advance()
        }
        // Not listening in time: treated as a crash, so it is restarted with back-off.
        pendingExit = Exit(code: nil, reason: .notReady,
                           detail: "did not accept connections on port \(port) within \(timeout)")
        state = .cleaningUp(next())
        return [.cleanUp(operation!, kill: true)]
    }

    /// The task ended on its own (an exit event, or containerd no longer has it).
    /// A task exit while a launch runs: kept until the launch says which task it made.
    mutating func taskExitedDuringLaunch(pid: UInt32, _ exit: Exit) {
        guard case .launching = state else { return }
        exitDuringLaunch = (pid, exit)
    }

    mutating func taskExited(pid: UInt32, _ exit: Exit) -> [Action] {
        guard goal == .running || goal == .paused else { return [] }
        var actions: [Action] = []
        switch state {
        case .running(pid), .paused(pid):
            break
        case .probing(let op, pid):
            actions.append(.cancel(op))
        default:
            // During a pause or a resume: that operation's failure leads to a restart.
            return []
        }
        pendingExit = exit
        state = .cleaningUp(next())
        return actions + [.cleanUp(operation!, kill: false)]
    }

    /// The ended task is deleted: say why it ended, and restart after the back-off.
    mutating func cleanedUp(_ op: Operation, now: ContinuousClock.Instant) -> [Action] {
        guard state == .cleaningUp(op) else { return [] }
        let exit = pendingExit ?? Exit(code: nil, reason: .exited, detail: "ended")
        pendingExit = nil
        let uptime = runningSince.map { now - $0 } ?? .zero
        runningSince = nil
        status.pid = nil
        status.lastExitCode = exit.code
        switch goal {
        case .deleted:
            return beginRemoval()
        case .stopped:
            return beginStop(message: nil)
        case .running, .paused:
            goal = .running
        }
        let delay = backoff.delay(afterRunOf: uptime)
        let restarts = backoff.restarts
        state = .backingOff(next())
        status.phase = .failed
        status.restarts = restarts
        if restarts > 1 {
            status.reason = .crashLoop
            status.message = "crash loop: \(exit.detail); restarted \(restarts - 1) times, next start in \(Self.seconds(delay))"
        } else {
            status.reason = exit.reason
            status.message = "restarting in \(Self.seconds(delay)) after: \(exit.detail)"
        }
        return [.timer(operation!, after: delay)] + settleWakers()
    }

    /// The back-off is over.
    mutating func timerFired(_ op: Operation) -> [Action] {
        guard state == .backingOff(op) else { return [] }
        return beginPull()
    }

    mutating func pauseEnded(_ op: Operation, ok: Bool) -> [Action] {
        guard case .pausing(op, let pid) = state else { return [] }
        if ok {
            state = .paused(pid: pid)
            setStatus(.paused, message: nil)
        } else {
            state = .running(pid: pid)
            setStatus(.running, message: nil)
            if goal == .paused { goal = .running }
        }
        return Self.answer(&pauseWaiters, .accepted(ok)) + advance() + settleWakers()
    }

    /// A failed resume falls back to a restart: the frozen task is stopped, then started again.
    mutating func resumeEnded(_ op: Operation, ok: Bool) -> [Action] {
        guard case .resuming(op, let pid) = state else { return [] }
        guard ok else {
            if goal == .running { return beginStop(message: "restarting: resuming the paused task failed") }
            state = .paused(pid: pid)
            return advance() + settleWakers()
        }
        state = .running(pid: pid)
        setStatus(.running, message: nil)
        return settleWakers() + advance()
    }

    /// The task is stopped and deleted, its address released.
    mutating func stopEnded(_ op: Operation) -> [Action] {
        guard state == .stopping(op) else { return [] }
        state = .stopped
        runningSince = nil
        status.pid = nil
        status.address = nil
        if goal == .stopped {
            setStatus(.stopped, message: nil)
        }
        return Self.answer(&stopWaiters, .done) + advance() + settleWakers()
    }

    mutating func removed(_ op: Operation, failure: String?) -> [Action] {
        guard state == .deleting(op) else { return [] }
        if let failure {
            state = .deleteFailed
            status.message = "deleting failed: \(failure)"
            return Self.answer(&deleteWaiters, .failed(failure)) + settleWakers()
        }
        state = .deleted
        return answerAll(deleted: .done)
    }

    /// containerd came back, or events may have been missed: check that the task still runs.
    mutating func reconnected() -> [Action] {
        guard let pid, goal == .running || goal == .paused else { return [] }
        return [.check(pid: pid)]
    }
}

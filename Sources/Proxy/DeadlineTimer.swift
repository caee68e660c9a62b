import NIOCore

/// One per connection: a deadline that moves often (every request) but schedules rarely. Moving
/// the deadline later costs nothing; the scheduled task, when it fires early, re-arms itself for
/// the current deadline. So keep-alive traffic does not schedule a task per request.
final class DeadlineTimer {
    private let eventLoop: any EventLoop
    private var deadline: NIODeadline? = nil
    private var scheduled: Scheduled<Void>? = nil
    private var scheduledFor: NIODeadline = .distantFuture
    private let onExpiry: () -> Void

    init(eventLoop: any EventLoop, onExpiry: @escaping () -> Void) {
        self.eventLoop = eventLoop
        self.onExpiry = onExpiry
    }

    func set(_ deadline: NIODeadline?) {
        self.deadline = deadline
        guard let deadline, scheduled == nil || deadline < scheduledFor else { return }
        schedule(at: deadline)
    }

    func cancel() {
        deadline = nil
        scheduled?.cancel()
        scheduled = nil
    }

    private func schedule(at deadline: NIODeadline) {
        scheduled?.cancel()
        scheduledFor = deadline
        scheduled = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            self?.fired()
        }
    }

    private func fired() {
        scheduled = nil
        guard let deadline else { return }
        if deadline <= .now() {
            self.deadline = nil
            onExpiry()
        } else {
            schedule(at: deadline)
        }
    }
}

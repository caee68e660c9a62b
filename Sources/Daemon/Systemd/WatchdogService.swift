import ServiceLifecycle

/// Sends `WATCHDOG=1` every ``SystemdNotifier/watchdogInterval`` (half of `WatchdogSec=`) until
/// graceful shutdown. Without a watchdog or a notify socket it only waits for graceful shutdown, so
/// that a ServiceGroup does not take its return for the end of the daemon.
///
/// Put it first in the ServiceGroup: services shut down in reverse order, so the watchdog keeps
/// pinging while the others finish their in-flight work.
public struct WatchdogService: Service {
    public let notifier: SystemdNotifier

    public init(notifier: SystemdNotifier) {
        self.notifier = notifier
    }

    public func run() async throws {
        guard notifier.isEnabled, let interval = notifier.watchdogInterval else {
            // Returns at graceful shutdown; throws (ignored) when cancelled first.
            try? await gracefulShutdown()
            return
        }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            notifier.watchdog()
            // Wakes early on graceful shutdown or cancellation (the sleep then throws).
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: interval)
            }
        }
    }
}

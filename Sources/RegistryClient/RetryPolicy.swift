/// How often and how patiently a request is repeated after 429, 500, 502, 503, 504 or a broken
/// connection. The delay doubles from `initialDelay` up to `maxDelay`; a `Retry-After` header in
/// seconds replaces the computed delay, up to `maxRetryAfter`.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included; 1 means no retries.
    public var maxAttempts: Int
    public var initialDelay: Duration
    public var maxDelay: Duration
    /// A registry asking for a longer pause than this is not waited for that long: a deploy
    /// should fail and say so rather than hang.
    public var maxRetryAfter: Duration

    public init(maxAttempts: Int, initialDelay: Duration, maxDelay: Duration, maxRetryAfter: Duration = .seconds(60)) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
    }

    public static let `default` = RetryPolicy(maxAttempts: 4, initialDelay: .milliseconds(200), maxDelay: .seconds(5))
    public static let none = RetryPolicy(maxAttempts: 1, initialDelay: .zero, maxDelay: .zero)

    /// The pause after failed attempt number `attempt` (1-based) before the next one.
    public func delay(afterAttempt attempt: Int, retryAfter: Duration? = nil) -> Duration {
        if let retryAfter {
            return min(max(retryAfter, .zero), maxRetryAfter)
        }
        var delay = initialDelay
        var step = 1
        while step < attempt, delay < maxDelay {
            delay *= 2
            step += 1
        }
        return min(delay, maxDelay)
    }

    /// Statuses that say "try again": rate limiting and transient server or gateway failures.
    public static func isRetryable(status: Int) -> Bool {
        [429, 500, 502, 503, 504].contains(status)
    }

    /// A `Retry-After` header in delay-seconds; the HTTP-date form is not used by registries.
    public static func retryAfter(_ header: String?) -> Duration? {
        guard let header, let seconds = Int(header.trimmingCharacters(in: .whitespaces)), seconds >= 0 else {
            return nil
        }
        return .seconds(seconds)
    }
}

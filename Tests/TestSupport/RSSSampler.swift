import Foundation

/// This process's resident set, sampled every 10 ms on a thread of its own while a transfer
/// runs (the node or proxy under test lives in this process).
public final class RSSSampler: @unchecked Sendable {
    private let lock = NSLock()
    private var peak = 0
    private var running = true
    public let baseline: Int

    public init() {
        baseline = RSSSampler.current()
        peak = baseline
        Thread.detachNewThread { [self] in
            while lock.withLock({ running }) {
                let now = RSSSampler.current()
                lock.withLock { peak = max(peak, now) }
                usleep(10_000)
            }
        }
    }

    /// Stops sampling; returns the peak growth over the baseline, in bytes.
    public func stop() -> Int {
        lock.withLock {
            running = false
            return peak - baseline
        }
    }

    public static func current() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) else { return 0 }
        return kib * 1024
    }
}

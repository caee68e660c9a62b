import CProcessMemory
import ServiceLifecycle

/// Gives the memory malloc holds free back to the kernel every `interval`, as Go's scavenger or
/// tcmalloc's background release do. glibc keeps what is freed inside its heaps: a burst of work
/// (a hundred containers started at once, a thousand records listed) left megabytes resident
/// that nothing used, and berthd's resident memory is what a host budgets for it. Every 2 s, so
/// that a burst's leftovers go within seconds: a trim walks malloc's free lists, a heap of a few
/// tens of megabytes, and gives back only pages wholly free.
struct HeapTrimService: Service {
    var interval: Duration = .seconds(2)

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { return }
                _ = berth_trim_heap()
            }
        }
    }
}

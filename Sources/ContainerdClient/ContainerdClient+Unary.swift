import GRPCCore
import NIOCore
import NIOPosix
import Synchronization

extension ContainerdClient {
    /// How long a unary call waits, for the connection (containerd may be restarting) and for
    /// its answer.
    static let unaryDeadline = Duration.seconds(30)

    /// A unary call: `call`, ended after `unaryDeadline` with `deadlineExceeded`.
    ///
    /// The deadline is a NIO timer that cancels the call, not the call's own `timeout`:
    /// grpc-swift runs that one as a task sleeping until the deadline, which a call that ends
    /// first cancels, and a cancelled sleep keeps its memory until the time it slept to
    /// (swiftlang/swift#60441). At the few hundred calls a second of a hundred containers
    /// starting, 30 s deadlines held 19 MB of berthd's heap (heaptrack, bench/start).
    func unary<T: Sendable>(_ operation: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let timedOut = TimedOut()
        let work = Task { try await call(operation, body) }
        let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(Self.unaryDeadline)) {
            timedOut.flag.store(true, ordering: .releasing)
            work.cancel()
        }
        defer { timer.cancel() }
        do {
            return try await withTaskCancellationHandler { try await work.value } onCancel: { work.cancel() }
        } catch where timedOut.flag.load(ordering: .acquiring) {
            throw ContainerdError(code: .deadlineExceeded, message: "no answer within \(Self.unaryDeadline)", operation: operation)
        }
    }
}

private final class TimedOut: Sendable {
    let flag = Atomic<Bool>(false)
}

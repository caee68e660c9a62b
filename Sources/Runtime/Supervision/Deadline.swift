import Synchronization

/// Runs `body` with a time limit. When the limit passes, or the caller is cancelled, this returns
/// at once (throwing `timedOut()` or `CancellationError`) and cancels `body` without waiting for
/// it: a registry that accepts a connection and never answers, or a call that does not notice
/// cancellation, cannot hold the supervisor. `body` ends on its own later; its result is dropped.
func withDeadline<T: Sendable>(_ limit: Duration, timedOut: @escaping @Sendable () -> any Error,
                               _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let outcome = FirstOutcome<T>()
    let work = Task {
        do { outcome.finish(.success(try await body())) } catch { outcome.finish(.failure(error)) }
    }
    let timer = Task {
        try? await Task.sleep(for: limit)
        if !Task.isCancelled { outcome.finish(.failure(timedOut())) }
    }
    defer {
        work.cancel()
        timer.cancel()
    }
    return try await withTaskCancellationHandler {
        try await outcome.value()
    } onCancel: {
        outcome.finish(.failure(CancellationError()))
    }
}

/// The first of several results; later ones are ignored.
private final class FirstOutcome<T: Sendable>: Sendable {
    private enum State {
        case waiting(CheckedContinuation<T, any Error>?)
        case done(Result<T, any Error>)
    }

    private let state = Mutex<State>(.waiting(nil))

    func finish(_ result: Result<T, any Error>) {
        let waiter: CheckedContinuation<T, any Error>?? = state.withLock { state in
            guard case .waiting(let waiter) = state else { return nil }
            state = .done(result)
            return .some(waiter)
        }
        if case .some(.some(let waiter)) = waiter { waiter.resume(with: result) }
    }

    func value() async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<T, any Error>? = state.withLock { state in
                switch state {
                case .waiting:
                    state = .waiting(continuation)
                    return nil
                case .done(let result):
                    return result
                }
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

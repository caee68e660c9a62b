import Foundation
import Reconciler
import Runtime
import Synchronization

/// The smallest honest runtime: revisions are entries in memory that go pending → running
/// when deployed (or stay starting, or fail, as a test asks), statuses are published to
/// watchers as the real runtime's are, and a delete can be made to fail or to wait on a gate.
final class FakeRuntime: RevisionRuntime, @unchecked Sendable {
    enum StartBehaviour { case runs, staysStarting, fails }

    private struct State {
        var statuses: [String: RuntimeStatus] = [:]
        var watchers: [Int: AsyncStream<(String, RuntimeStatus)>.Continuation] = [:]
        var nextWatcher = 0
        var deploys: [String] = []
        var deletes: [String] = []
        var failingDeletes = 0
        var behaviour: [String: StartBehaviour] = [:]
        var recovered: (desired: [String], idle: [String])?
    }

    private let state = Mutex(State())
    /// Deletes wait here while it is closed.
    let deleteGate = Gate()

    var deploys: [String] { state.withLock { $0.deploys } }
    var deletes: [String] { state.withLock { $0.deletes } }
    var recovered: (desired: [String], idle: [String])? { state.withLock { $0.recovered } }

    func behave(_ runtimeID: String, _ behaviour: StartBehaviour) {
        state.withLock { $0.behaviour[runtimeID] = behaviour }
    }

    /// The next `count` deletes throw.
    func failDeletes(_ count: Int) {
        state.withLock { $0.failingDeletes = count }
    }

    func set(_ runtimeID: String, _ status: RuntimeStatus) {
        publish(runtimeID, status)
    }

    // MARK: - RevisionRuntime

    func deploy(_ deployment: RevisionDeployment) {
        let id = deployment.runtimeID
        let (behaviour, current) = state.withLock { state in
            state.deploys.append(id)
            return (state.behaviour[id] ?? .runs, state.statuses[id])
        }
        if current?.phase == .running || current?.phase == .starting { return }
        switch behaviour {
        case .runs:
            var status = RuntimeStatus(phase: .running)
            status.address = "10.0.0.1"
            status.port = deployment.spec.port
            publish(id, status)
        case .staysStarting:
            publish(id, RuntimeStatus(phase: .starting))
        case .fails:
            publish(id, RuntimeStatus(phase: .failed, reason: .startError, message: "refused by the test"))
        }
    }

    struct DeleteFailed: Error {}

    func delete(_ runtimeID: String) async throws {
        let fails = state.withLock { state -> Bool in
            state.deletes.append(runtimeID)
            guard state.failingDeletes > 0 else { return false }
            state.failingDeletes -= 1
            return true
        }
        if fails { throw DeleteFailed() }
        await deleteGate.wait()
        publish(runtimeID, RuntimeStatus(phase: .deleted))
    }

    func status(_ runtimeID: String) -> RuntimeStatus? {
        state.withLock { $0.statuses[runtimeID] }
    }

    var statuses: [String: RuntimeStatus] { state.withLock { $0.statuses } }

    func statuses(ofContainer containerID: String) -> [String: RuntimeStatus] {
        statuses.filter { RevisionDeployment.parse($0.key)?.containerID == containerID }
    }

    func statusChanges() -> AsyncStream<(String, RuntimeStatus)> {
        let (stream, continuation) = AsyncStream.makeStream(of: (String, RuntimeStatus).self)
        let id = state.withLock { state in
            state.nextWatcher += 1
            state.watchers[state.nextWatcher] = continuation
            return state.nextWatcher
        }
        continuation.onTermination = { [weak self] _ in self?.state.withLock { _ = $0.watchers.removeValue(forKey: id) } }
        return stream
    }

    func waitForStatus(_ runtimeID: String, timeout: Duration,
                       _ condition: @escaping @Sendable (RuntimeStatus) -> Bool) async throws -> RuntimeStatus {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            try Task.checkCancellation()
            if let status = status(runtimeID), condition(status) { return status }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw FakeTimeout()
    }

    struct FakeTimeout: Error {}

    func recover(desired: [RevisionDeployment], idle: [RevisionDeployment]) async throws -> RecoveryReport {
        state.withLock { $0.recovered = (desired.map(\.runtimeID), idle.map(\.runtimeID)) }
        for deployment in desired { deploy(deployment) }
        return RecoveryReport()
    }

    private func publish(_ runtimeID: String, _ status: RuntimeStatus) {
        let watchers = state.withLock { state in
            state.statuses[runtimeID] = status.phase == .deleted ? nil : status
            return Array(state.watchers.values)
        }
        for watcher in watchers { watcher.yield((runtimeID, status)) }
    }
}

/// Open or closed; waiters pass once it is open.
final class Gate: Sendable {
    private let open = Atomic(true)

    func close() { open.store(false, ordering: .releasing) }
    func openGate() { open.store(true, ordering: .releasing) }

    func wait() async {
        while !open.load(ordering: .acquiring) {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

import Runtime

/// What the reconciler asks of the runtime: the few calls it makes, so that its decisions are
/// tested against a small in-memory runtime (ReconcilerTests) as well as the real one.
public protocol RevisionRuntime: Sendable {
    /// Runs the revision (starts it, or keeps it running).
    func deploy(_ deployment: RevisionDeployment)
    /// Removes everything of the revision; returns once its task is gone.
    func delete(_ runtimeID: String) async throws
    func status(_ runtimeID: String) -> RuntimeStatus?
    var statuses: [String: RuntimeStatus] { get }
    /// Those of one Berth container's revisions and instances, by runtime id.
    func statuses(ofContainer containerID: String) -> [String: RuntimeStatus]
    func statusChanges() -> AsyncStream<(String, RuntimeStatus)>
    func waitForStatus(_ runtimeID: String, timeout: Duration,
                       _ condition: @escaping @Sendable (RuntimeStatus) -> Bool) async throws -> RuntimeStatus
    /// At start: adopts or starts `desired`, keeps `idle` (stopped for want of requests) as it is,
    /// and removes what Berth made that neither names.
    func recover(desired: [RevisionDeployment], idle: [RevisionDeployment]) async throws -> RecoveryReport
}

extension ContainerRuntime: RevisionRuntime {}

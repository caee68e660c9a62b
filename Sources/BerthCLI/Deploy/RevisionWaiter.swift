import BerthClient
import Foundation

/// Carries out a deploy's wait: polls the node, feeds `DeployWatch`, shows its actions, and
/// ends when the revision serves (the container is returned), fails or is superseded (a
/// `deployFailed` failure, after the revision's last log lines), or the deadline passes.
struct RevisionWaiter {
    let client: BerthClient
    let container: Container
    let revision: Int
    let deadline: Duration
    var interval: Duration = .milliseconds(200)
    /// Polls that may fail in a row (the node restarting) before the wait gives up.
    var toleratedFailures = 10

    func wait(showing view: DeployProgressView) async throws -> Fetched<Container> {
        var watch = DeployWatch(revision: revision)
        let end = ContinuousClock.now + deadline
        var failures = 0
        view.begin()
        while true {
            do {
                let (fetched, snapshot) = try await poll()
                failures = 0
                let actions = watch.observe(snapshot)
                view.apply(actions)
                for case .finished(let phase) in actions {
                    switch phase {
                    case .ready: return fetched
                    case .failed(let reason):
                        await showLogs()
                        throw CLIFailure(.deployFailed, "revision \(revision) of \(container.name) failed: \(reason)")
                    case .superseded(let newer):
                        throw CLIFailure(.deployFailed, "revision \(revision) of \(container.name) was replaced by revision \(newer) before it served")
                    default: break
                    }
                }
            } catch let error as ClientError {
                if case .api(let status, _) = error, status < 500 { throw error }
                failures += 1
                if failures > toleratedFailures { throw error }
            }
            guard ContinuousClock.now < end else {
                let phase = watch.phase?.name ?? "pending"
                throw CLIFailure(.unavailable, "revision \(revision) of \(container.name) is still \(phase) after \(deadline); "
                                 + "`berth describe \(container.name)` shows where it stands")
            }
            try await Task.sleep(for: interval)
            view.tick()
        }
    }

    private func poll() async throws -> (Fetched<Container>, DeploySnapshot) {
        async let fetched = client.container(id: container.id)
        async let revisions = client.revisions(id: container.id)
        async let instances = client.instances(id: container.id)
        let (current, list, running) = try await (fetched, revisions, instances)
        let snapshot = DeploySnapshot(container: current.value, revision: list.first { $0.value.revision == revision }?.value,
                                      instances: running.map(\.value))
        return (current, snapshot)
    }

    /// The failed revision's last lines, for the reason its status does not give.
    private func showLogs() async {
        guard let text = try? await client.logs(id: container.id, .init(tail: 20, revision: revision)), !text.isEmpty else { return }
        Print.err("last log lines of revision \(revision):\n")
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") ? 1 : 0) {
            Print.err("  | \(String(line).shown)\n")
        }
    }
}

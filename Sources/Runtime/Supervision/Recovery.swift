import ContainerdClient
import Foundation

/// What `recover(desired:)` found and did.
public struct RecoveryReport: Sendable, Equatable {
    /// Revisions whose containerd container existed: their running tasks are adopted as they are.
    public var adopted: [String] = []
    /// Revisions that had no container yet: started.
    public var started: [String] = []
    /// Berth's containers, addresses and folders that nothing asks for any more: removed.
    public var removed: [String] = []
}

extension ContainerRuntime {
    /// Brings the host in line with `desired` when berthd starts: running tasks of desired
    /// revisions are adopted without a restart (same pid, same address), desired revisions
    /// without one are started, and whatever Berth made that is not desired is removed.
    @discardableResult
    public func recover(desired: [RevisionDeployment]) async throws -> RecoveryReport {
        var report = RecoveryReport()
        let wanted = Dictionary(desired.map { ($0.runtimeID, $0) }, uniquingKeysWith: { first, _ in first })
        let existing = try await context.containerd.listContainers(filters: [#"labels."\#(RuntimeLabel.managed)"==true"#])
        var leftovers = Set(existing.map(\.id))
        leftovers.formUnion(try context.network.attachedContainerIDs())
        leftovers.formUnion((try? FileManager.default.contentsOfDirectory(atPath: context.configuration.containersDirectory)) ?? [])
        for id in leftovers.sorted() where wanted[id] == nil {
            do {
                try await RevisionResources(context: context, runtimeID: id).removeAll(grace: .seconds(0))
                report.removed.append(id)
            } catch {
                context.logger.error("could not remove leftover revision", metadata: ["container": "\(id)", "error": "\(error)"])
            }
        }
        let known = Set(existing.map(\.id))
        for deployment in desired {
            if known.contains(deployment.runtimeID) {
                report.adopted.append(deployment.runtimeID)
            } else {
                report.started.append(deployment.runtimeID)
            }
            deploy(deployment)
        }
        return report
    }
}

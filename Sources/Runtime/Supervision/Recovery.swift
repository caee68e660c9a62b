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
    /// Berth containers of another node identity in the namespace: left alone.
    public var foreign: [String] = []

    public init() {}
}

extension ContainerRuntime {
    /// Brings the host in line with `desired` when berthd starts: running tasks of desired
    /// revisions are adopted without a restart (same pid, same address), desired revisions
    /// without one are started, and whatever Berth made that is not desired is removed.
    /// `idle` revisions were stopped for want of requests: what they left (their containerd
    /// container, snapshot and files) stays, and they start when a request wakes them.
    ///
    /// Only this node's objects are touched (`RuntimeConfiguration.ownership`): containerd
    /// containers labelled with another node's identity are neither adopted nor removed, even
    /// when this node's own folders or network records name the same id.
    @discardableResult
    public func recover(desired: [RevisionDeployment], idle: [RevisionDeployment] = []) async throws -> RecoveryReport {
        var report = RecoveryReport()
        let wanted = Dictionary((desired + idle).map { ($0.runtimeID, $0) }, uniquingKeysWith: { first, _ in first })
        let managed = try await context.containerd.listContainers(filters: [#"labels."\#(RuntimeLabel.managed)"==true"#])
        let ownership = context.configuration.ownership
        let existing = managed.filter { ownership.owns($0.labels) }
        let foreign = Set(managed.map(\.id)).subtracting(existing.map(\.id))
        report.foreign = foreign.sorted()
        var leftovers = Set(existing.map(\.id))
        leftovers.formUnion(try context.network.attachedContainerIDs())
        leftovers.formUnion((try? FileManager.default.contentsOfDirectory(atPath: context.configuration.containersDirectory)) ?? [])
        leftovers.subtract(foreign)
        for id in leftovers.sorted() where wanted[id] == nil {
            do {
                try await RevisionResources(context: context, runtimeID: id).removeAll(grace: .seconds(0))
                report.removed.append(id)
            } catch {
                context.logger.error("could not remove leftover revision", metadata: ["container": "\(id)", "error": "\(error)"])
            }
        }
        await removeLeasesOfEarlierRuns()
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

    /// Every lease Berth makes lives for one pull, launch or remap; one of this node's made before
    /// this runtime was made was left by a berthd killed in the middle (it would otherwise keep
    /// content and snapshots until its expiry, up to hours later). Another node's are not touched.
    private func removeLeasesOfEarlierRuns() async {
        guard let identity = context.configuration.ownership.identity else { return }
        do {
            for lease in try await context.containerd.listLeaseRecords()
            where lease.labels[RuntimeLabel.node] == identity && lease.createdAt < createdAt {
                try await context.containerd.deleteLease(lease.id)
                context.logger.info("removed a lease left by an earlier berthd", metadata: ["lease": "\(lease.id)"])
            }
        } catch {
            context.logger.warning("could not remove leases left by an earlier berthd", metadata: ["error": "\(error)"])
        }
    }
}

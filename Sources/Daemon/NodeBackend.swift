import API
import Reconciler
import Runtime
import Secrets
import Store
import Traffic

/// The API's view of the node: changes go to the reconciler, logs come from the runtime's log
/// files, GPUs from the node's inventory, instances from the runtime, the reconciler's plan and
/// the traffic controller's counts.
struct NodeBackend: ContainerBackend {
    let reconciler: Reconciler
    let runtime: ContainerRuntime
    let traffic: TrafficController
    let gpus: NodeGPUs
    let volumes: VolumeStorage
    let secretBox: SecretBox
    let logs: ContainerLogs

    func apply(_ containerID: String) {
        reconciler.apply(containerID)
    }

    var isReady: Bool { reconciler.isRecovered }

    func gpuModels() async throws -> [GPUModel] {
        try gpus.models()
    }

    func gpuChooser(count: Int, model: String?) async throws -> GPUChooser {
        gpus.chooser(count: count, model: model)
    }

    func instances(of container: StoredContainer) -> ContainerInstances {
        var list: [InstanceReport] = []
        for (id, status) in runtime.statuses(ofContainer: container.id) {
            guard let (_, revision, instance) = RevisionDeployment.parseInstance(id) else { continue }
            list.append(InstanceReport(revision: revision, instance: instance, status: status.phase.rawValue,
                                       since: status.since, inFlight: traffic.inFlight(id)))
        }
        // The serving revision first, then newer ones (a rollout), then older ones (draining).
        let serving = container.revision
        list.sort { a, b in
            let rank = { (r: InstanceReport) in r.revision == serving ? 0 : r.revision > serving ? 1 : 2 }
            return (rank(a), -a.revision, a.instance) < (rank(b), -b.revision, b.instance)
        }
        let first = list.first { $0.revision == serving && $0.instance == 0 }
        let scaledToZero = first == nil || first?.status == "paused" || first?.status == "stopped"
        let desired = scaledToZero ? 0 : max(1, reconciler.desiredInstances(container.id))
        return ContainerInstances(desired: desired, list: list)
    }

    func pullProgress(image: String) -> PullReport? {
        guard let progress = runtime.pullProgress(image: image) else { return nil }
        let downloaded = progress.layers.filter { $0.state != .waiting && $0.state != .downloading }.count
        // Layers unpack in order as they arrive: "unpacking" once every layer is down.
        let phase = progress.resolvedDigest == nil ? "resolving" : downloaded < progress.layers.count ? "downloading" : "unpacking"
        return PullReport(phase: phase, layers: .init(done: Int64(downloaded), total: Int64(progress.layers.count)),
                          bytes: .init(done: progress.doneBytes, total: progress.totalBytes))
    }

    /// In-flight counts are left out: they are only in the instances list, which is not cached.
    var instancesVersion: UInt64 { runtime.statusVersion &+ reconciler.scaleVersion &+ runtime.pullProgressVersion }
}

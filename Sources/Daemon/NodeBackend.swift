import API
import Reconciler
import Runtime
import Store

/// The API's view of the node: changes go to the reconciler, logs come from the runtime's log
/// files, GPUs from the node's inventory.
struct NodeBackend: ContainerBackend {
    let reconciler: Reconciler
    let gpus: NodeGPUs
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
}

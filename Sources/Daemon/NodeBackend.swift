import API
import Reconciler
import Runtime

/// The API's view of the node: changes go to the reconciler, logs come from the runtime's log
/// files, GPUs from the node's inventory.
struct NodeBackend: ContainerBackend {
    let reconciler: Reconciler
    let logs: ContainerLogs

    func apply(_ containerID: String) {
        reconciler.apply(containerID)
    }

    var isReady: Bool { reconciler.isRecovered }

    func gpuModels() async throws -> [GPUModel] {
        []
    }

    func reserveGPUs(_ count: Int, model: String?, containerID: String, revision: Int) async throws {
        throw APIError.capacity("gpu: \(count) asked for, but this node has no GPUs")
    }
}

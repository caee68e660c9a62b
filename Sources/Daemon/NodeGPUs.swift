import API
import GPU
import Logging
import OCI
import Runtime
import Store

/// The node's GPUs as discovered once at start: the models the API lists, the chooser the store
/// allocates with, and the spec edits for the device ids a deployment carries.
struct NodeGPUs: Sendable {
    let discovery: GPUDiscovery
    let inventory: GPUInventory
    let database: BerthDatabase

    /// A CDI spec berthd cannot use is logged and the node runs without GPUs, rather than not at
    /// all: containers without GPUs keep working while the operator fixes the spec.
    static func discover(hostRoot: String, database: BerthDatabase, logger: Logger) async -> NodeGPUs {
        let discovery = GPUDiscovery(hostRoot: hostRoot, logger: logger)
        let inventory: GPUInventory
        do {
            inventory = try await discovery.discover()
            if !inventory.devices.isEmpty {
                logger.info("GPUs found", metadata: [
                    "count": "\(inventory.devices.count)", "models": "\(Set(inventory.devices.map(\.model)).sorted())",
                    "source": "\(inventory.source)",
                ])
            }
        } catch {
            logger.error("GPU discovery failed; running without GPUs", metadata: ["error": "\(error)"])
            inventory = .empty
        }
        return NodeGPUs(discovery: discovery, inventory: inventory, database: database)
    }

    func models() throws -> [GPUModel] {
        let taken = Set(try database.gpuAllocations().map(\.deviceID))
        return inventory.models(allocated: taken).map {
            GPUModel(model: $0.model, memory: $0.memory, count: $0.count, available: $0.available)
        }
    }

    func chooser(count: Int, model: String?) -> GPUChooser {
        let inventory = self.inventory
        return { taken in
            do {
                return try inventory.choose(count, model: model, allocated: taken).map(\.id)
            } catch GPUError.unknownModel(let model, let available) {
                throw APIError.invalid([.init("gpuModel", "\(GPUError.unknownModel(model, available: available))")])
            } catch {
                throw APIError.capacity("\(error)")
            }
        }
    }

    /// The spec edits for the devices the deployment carries (the reconciler read them from the
    /// store when it built the deployment; nothing is read here, mid-launch).
    func edits(for deployment: RevisionDeployment) throws -> [SpecEdit] {
        let ids = deployment.gpuDevices
        guard ids.count == deployment.spec.gpu else {
            throw RuntimeError.noDevices(
                "revision \(deployment.revision) holds \(ids.count) of its \(deployment.spec.gpu) GPUs (they serve another revision)")
        }
        let devices = ids.compactMap { id in inventory.devices.first { $0.id == id } }
        guard devices.count == ids.count else {
            throw RuntimeError.noDevices("GPU \(ids.filter { id in !devices.contains { $0.id == id } }.joined(separator: ", ")) is no longer on this node")
        }
        return try discovery.injection(for: devices, inventory: inventory)
    }
}

import Logging

/// Finds the node's NVIDIA GPUs and what a container needs to use them, reading every host path
/// under `hostRoot` ("/" in production; a fake tree in tests).
///
/// CDI specs of kind nvidia.com/gpu, when there are any, are the source of truth (see
/// `CDISpecLoader`). Otherwise the driver's own files: /proc/driver/nvidia/gpus/*/information
/// (model, UUID, minor), the device nodes (`DriverNodes`), the libraries and programs
/// (`DriverLibraries`). nvidia-smi gives memory either way. A host without any is an empty
/// inventory, not an error.
public struct GPUDiscovery: Sendable {
    public var hostRoot: String
    public var cdiDirectories: [String]
    public var cdiKind: String
    /// How long nvidia-smi may take before memory is left unknown.
    public var nvidiaSMITimeout: Duration
    public var logger: Logger

    public init(hostRoot: String = "/", cdiDirectories: [String] = ["/etc/cdi", "/var/run/cdi"],
                cdiKind: String = "nvidia.com/gpu", nvidiaSMITimeout: Duration = .seconds(15),
                logger: Logger = Logger(label: "berth.gpu")) {
        self.hostRoot = hostRoot
        self.cdiDirectories = cdiDirectories
        self.cdiKind = cdiKind
        self.nvidiaSMITimeout = nvidiaSMITimeout
        self.logger = logger
    }

    var root: HostRoot { HostRoot(hostRoot) }

    /// Throws `GPUError.invalidCDISpec` for a CDI file it cannot use.
    public func discover() async throws -> GPUInventory {
        let root = self.root
        let cdiSpecs = try CDISpecLoader(root: root, directories: cdiDirectories, kind: cdiKind, logger: logger).load()
        let driverGPUs = DriverInfo.gpus(root: root)
        guard !cdiSpecs.isEmpty || !driverGPUs.isEmpty else {
            logger.info("no NVIDIA GPU on this host")
            return .empty
        }
        let memory = await memory(uuids: driverGPUs.compactMap(\.uuid) + cdiSpecs.flatMap { $0.spec.devices.map(\.name) })

        let inventory: GPUInventory
        if !cdiSpecs.isEmpty {
            inventory = try CDIInventory(loaded: cdiSpecs, driverGPUs: driverGPUs, memory: memory).build()
        } else {
            inventory = driverInventory(driverGPUs, memory: memory)
        }
        logger.info("GPUs discovered", metadata: [
            "source": "\(inventory.source)",
            "devices": "\(inventory.devices.map { "\($0.id) (\($0.model))" }.joined(separator: ", "))",
        ])
        return inventory
    }

    private func memory(uuids: [String]) async -> [String: Int64] {
        guard uuids.contains(where: { $0.hasPrefix("GPU-") }),
              let smi = DriverLibraries.program("nvidia-smi", root: root) else { return [:] }
        return await NvidiaSMI.memory(executable: smi.source, timeout: nvidiaSMITimeout, logger: logger)
    }

    private func driverInventory(_ gpus: [DriverInfo.GPU], memory: [String: Int64]) -> GPUInventory {
        let root = self.root
        let nodes = DriverNodes(root: root, majors: DriverInfo.characterMajors(root: root), logger: logger)
        var devices: [GPUDevice] = []
        var gpuNodes: [Int: DeviceNode] = [:]
        for gpu in gpus {
            guard let minor = gpu.minor, gpuNodes[minor] == nil else {
                logger.warning("GPU without a device minor in /proc/driver/nvidia; ignored",
                               metadata: ["model": "\(gpu.model)", "uuid": "\(gpu.uuid ?? "?")"])
                continue
            }
            gpuNodes[minor] = nodes.gpuNode(minor: minor)
            devices.append(GPUDevice(id: gpu.uuid ?? "nvidia\(minor)", model: gpu.model, uuid: gpu.uuid,
                                     memoryBytes: gpu.uuid.flatMap { memory[$0] }, minor: minor))
        }
        let version = DriverInfo.version(root: root)
        let cache = LinkerCache.read(root: root)?.entries() ?? []
        if cache.isEmpty { logger.debug("no linker cache; searching the standard library folders only") }
        let mounts = DriverLibraries(root: root, cache: cache, version: version, logger: logger).mounts()
        if !mounts.contains(where: { $0.destination.hasSuffix("/libcuda.so.1") }) {
            logger.warning("libcuda.so.1 not found on the host: containers will see their GPUs but cannot run CUDA")
        }
        let files = DriverFiles(version: version, gpuNodes: gpuNodes, controlNodes: nodes.controlNodes(), mounts: mounts)
        return GPUInventory(devices: devices, source: devices.isEmpty ? .none : .driver, driver: files)
    }
}

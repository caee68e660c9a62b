/// The node's GPUs as discovered, with what injecting them needs.
public struct GPUInventory: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// The CDI spec files the devices came from.
        case cdi([String])
        /// /proc/driver/nvidia, /dev and the driver's files.
        case driver
        /// No GPU on this host.
        case none
    }

    /// In minor-number order.
    public var devices: [GPUDevice]
    public var source: Source
    /// For `.driver`: device nodes, libraries and programs to give a container.
    var driver: DriverFiles?
    /// For `.cdi`: each device's edits by CDI name, and each spec file's own edits by path.
    var cdiDevices: [String: CDIDeviceEntry] = [:]
    var cdiSpecEdits: [String: CDISpec.ContainerEdits] = [:]

    public init(devices: [GPUDevice], source: Source) {
        self.devices = devices
        self.source = source
    }

    init(devices: [GPUDevice], source: Source, driver: DriverFiles?, cdiDevices: [String: CDIDeviceEntry] = [:],
         cdiSpecEdits: [String: CDISpec.ContainerEdits] = [:]) {
        self.devices = devices
        self.source = source
        self.driver = driver
        self.cdiDevices = cdiDevices
        self.cdiSpecEdits = cdiSpecEdits
    }

    public static let empty = GPUInventory(devices: [], source: .none)

    /// Models in the order their first device appears, with counts; `allocated` are device ids
    /// taken. `memory` is `GPUMemoryText`'s ("141Gi", or "unknown").
    public func models(allocated: Set<String>) -> [(model: String, memory: String, count: Int, available: Int)] {
        groups().map { group in
            (group.model, GPUMemoryText.describe(group.devices.lazy.compactMap(\.memoryBytes).first),
             group.devices.count, group.devices.count { !allocated.contains($0.id) })
        }
    }

    /// `count` free devices of one model: of `model` if given, else of the model with the most
    /// free (the first listed on a tie), in inventory order.
    public func choose(_ count: Int, model: String?, allocated: Set<String>) throws(GPUError) -> [GPUDevice] {
        guard count >= 0 else { throw .invalidRequest("a GPU count must be 0 or more, not \(count)") }
        let groups = groups()
        if let model {
            guard let group = groups.first(where: { $0.model == model })
                ?? groups.first(where: { $0.model.lowercased() == model.lowercased() })
            else { throw .unknownModel(model, available: groups.map(\.model)) }
            let free = group.devices.filter { !allocated.contains($0.id) }
            guard free.count >= count else {
                throw .insufficient("\(count) × \(group.model) asked, \(free.count) free (\(summary(groups, allocated)))")
            }
            return Array(free.prefix(count))
        }
        guard count > 0 else { return [] }
        guard !groups.isEmpty else { throw .insufficient("\(count) GPU\(count == 1 ? "" : "s") asked, this node has none") }
        let free = groups.map { group in group.devices.filter { !allocated.contains($0.id) } }
        // max(by:) would keep the last of equals; the first listed should win a tie.
        var best = 0
        for index in free.indices where free[index].count > free[best].count { best = index }
        guard free[best].count >= count else {
            throw .insufficient("\(count) GPUs of one model asked, at most \(free[best].count) free of any one model "
                + "(\(summary(groups, allocated)))")
        }
        return Array(free[best].prefix(count))
    }

    private func groups() -> [(model: String, devices: [GPUDevice])] {
        var order: [String] = []
        var byModel: [String: [GPUDevice]] = [:]
        for device in devices {
            if byModel[device.model] == nil { order.append(device.model) }
            byModel[device.model, default: []].append(device)
        }
        return order.map { ($0, byModel[$0]!) }
    }

    private func summary(_ groups: [(model: String, devices: [GPUDevice])], _ allocated: Set<String>) -> String {
        groups.map { group in
            "\(group.model): \(group.devices.count { !allocated.contains($0.id) }) of \(group.devices.count) free"
        }.joined(separator: ", ")
    }
}

/// A CDI device's own edits and the spec file it came from (whose top-level edits go with it).
struct CDIDeviceEntry: Sendable, Hashable {
    var specPath: String
    var edits: CDISpec.ContainerEdits
}

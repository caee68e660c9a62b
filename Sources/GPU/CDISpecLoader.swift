import Foundation
import Logging
import Yams

/// Reads the CDI spec files of one kind from the CDI folders (not their subfolders): `*.json`,
/// `*.yaml` and `*.yml`, in name order. As in the CDI library, a later folder has priority: a
/// device named in /var/run/cdi (generated at boot) replaces the same device from /etc/cdi.
///
/// Strict on purpose: a file in those folders that cannot be read or decoded, a spec of the kind
/// that fails the CDI validation rules, or one device defined twice in one folder makes discovery
/// fail with `GPUError.invalidCDISpec` naming the file and the problem. CDI is the source of
/// truth when present: guessing around a broken spec (or silently falling back to the driver's
/// files) could give containers the wrong devices or leave out the hooks the spec asks for, and
/// the fix is one file away.
struct CDISpecLoader {
    struct Loaded: Sendable, Hashable {
        /// The host path of the file.
        var path: String
        var spec: CDISpec
        var directoryIndex: Int
    }

    var root: HostRoot
    var directories: [String]
    var kind: String
    var logger: Logger

    func load() throws(GPUError) -> [Loaded] {
        var loaded: [Loaded] = []
        for (index, directory) in directories.enumerated() {
            for name in root.contents(of: directory) where Self.isSpecFile(name) {
                let path = (directory.hasSuffix("/") ? directory : directory + "/") + name
                guard root.isRegularFile(path) else { continue }
                guard let data = root.data(path) else { throw .invalidCDISpec("\(path): cannot be read") }
                let spec = try Self.decode(data, path: path)
                guard spec.kind == kind else {
                    logger.debug("CDI spec of another kind ignored", metadata: ["path": "\(path)", "kind": "\(spec.kind)"])
                    continue
                }
                let problems = spec.problems()
                guard problems.isEmpty else { throw .invalidCDISpec("\(path): \(problems.joined(separator: "; "))") }
                loaded.append(Loaded(path: path, spec: spec, directoryIndex: index))
            }
        }
        return loaded
    }

    static func isSpecFile(_ name: String) -> Bool {
        !name.hasPrefix(".") && (name.hasSuffix(".json") || name.hasSuffix(".yaml") || name.hasSuffix(".yml"))
    }

    static func decode(_ data: Data, path: String) throws(GPUError) -> CDISpec {
        do {
            if path.hasSuffix(".json") {
                return try JSONDecoder().decode(CDISpec.self, from: data)
            }
            return try YAMLDecoder().decode(CDISpec.self, from: String(decoding: data, as: UTF8.self))
        } catch {
            throw .invalidCDISpec("\(path): \(describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        func field(_ path: [any CodingKey]) -> String {
            path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }.description
        }
        let text: String
        switch error as? DecodingError {
        case .keyNotFound(let key, let context)?:
            text = "\(field(context.codingPath + [key])) is missing"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?:
            text = "\(field(context.codingPath)): \(context.debugDescription)"
        case .dataCorrupted(let context)?:
            let underlying = context.underlyingError.map { " (\($0))" } ?? ""
            text = context.codingPath.isEmpty
                ? "not valid JSON or YAML: \(context.debugDescription)\(underlying)"
                : "\(field(context.codingPath)): \(context.debugDescription)\(underlying)"
        default:
            text = "not valid JSON or YAML: \(error)"
        }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .joined(separator: " ")
    }
}

/// The inventory CDI specs describe: one device per whole GPU. The aggregate "all" device and MIG
/// devices ("0:1") are left out (Berth allocates whole GPUs), and a GPU listed under two names
/// (index and UUID naming together) is counted once, under the name that sorts first. Model, UUID
/// and memory are not in CDI specs: they come from the driver's /proc files (matched by minor, or
/// by a UUID name) and nvidia-smi.
struct CDIInventory {
    var loaded: [CDISpecLoader.Loaded]
    var driverGPUs: [DriverInfo.GPU]
    var memory: [String: Int64]

    func build() throws(GPUError) -> GPUInventory {
        var chosen: [String: (loaded: CDISpecLoader.Loaded, device: CDISpec.Device)] = [:]
        for file in loaded {
            for device in file.spec.devices where device.name != "all" && !device.name.contains(":") {
                if let earlier = chosen[device.name], earlier.loaded.directoryIndex == file.directoryIndex {
                    throw .invalidCDISpec("\(file.path): device \"\(device.name)\" is also defined in \(earlier.loaded.path)")
                }
                chosen[device.name] = (file, device)
            }
        }
        var entries = chosen.map { name, entry in (name: name, minor: Self.gpuMinor(entry.device), entry: entry) }
        entries.sort { ($0.minor ?? .max, $0.name) < ($1.minor ?? .max, $1.name) }

        var devices: [GPUDevice] = []
        var cdiDevices: [String: CDIDeviceEntry] = [:]
        var specEdits: [String: CDISpec.ContainerEdits] = [:]
        var uuidNames: [Int: String] = [:]
        for (name, minor, _) in entries where name.hasPrefix("GPU-") {
            if let minor { uuidNames[minor] = uuidNames[minor] ?? name }
        }
        var minors = Set<Int>()
        for (name, minor, entry) in entries {
            if let minor, !minors.insert(minor).inserted { continue }
            let uuidName = name.hasPrefix("GPU-") ? name : minor.flatMap { uuidNames[$0] }
            let driver = driverGPUs.first { gpu in
                (minor != nil && gpu.minor == minor) || (uuidName != nil && gpu.uuid == uuidName)
            }
            let uuid = uuidName ?? driver?.uuid
            let cdiName = "\(entry.loaded.spec.kind)=\(name)"
            devices.append(GPUDevice(id: uuid ?? minor.map { "nvidia\($0)" } ?? cdiName,
                                     model: driver?.model ?? GPUDevice.unknownModel, uuid: uuid,
                                     memoryBytes: uuid.flatMap { memory[$0] }, minor: minor ?? driver?.minor,
                                     cdiName: cdiName))
            cdiDevices[cdiName] = CDIDeviceEntry(specPath: entry.loaded.path, edits: entry.device.containerEdits ?? .init())
            specEdits[entry.loaded.path] = entry.loaded.spec.containerEdits ?? .init()
        }
        let paths = loaded.map(\.path).filter { specEdits[$0] != nil }
        return GPUInventory(devices: devices, source: .cdi(paths), driver: nil, cdiDevices: cdiDevices,
                            cdiSpecEdits: specEdits)
    }

    /// N of the device's /dev/nvidiaN node.
    static func gpuMinor(_ device: CDISpec.Device) -> Int? {
        for node in device.containerEdits?.deviceNodes ?? [] {
            let path = node.hostPath ?? node.path
            guard path.hasPrefix("/dev/nvidia") else { continue }
            if let minor = Int(path.dropFirst("/dev/nvidia".count)) { return minor }
        }
        return nil
    }
}

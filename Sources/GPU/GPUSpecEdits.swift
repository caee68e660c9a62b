import OCI

/// Spec edits that replace what is already there under the same path, as the CDI library applies
/// container edits: a device node or mount given twice (by a spec's and a device's edits, or over
/// a default) ends up once, the last one winning.
enum GPUSpecEdits {
    static func devices(_ devices: [RuntimeSpec.Device]) -> SpecEdit {
        SpecEdit("GPU device nodes") { spec in
            var linux = spec.linux ?? RuntimeSpec.Linux()
            var result = linux.devices ?? []
            for device in devices {
                result.removeAll { $0.path == device.path }
                result.append(device)
            }
            linux.devices = result
            spec.linux = linux
        }
    }

    /// A device node to give, with where its host node is read here (under the GPU host root);
    /// `hostNode` nil when the host has no such node (the driver's numbers are used).
    struct Node: Sendable {
        var device: RuntimeSpec.Device
        var hostNode: String?
    }

    /// The options of a device node bound from the host: no `nodev` (the node must stay usable;
    /// the device cgroup rules decide what may be opened), no setuid or exec through it.
    static let deviceBindOptions = ["bind", "nosuid", "noexec"]

    /// Device nodes as runc can give them. Without a user namespace: `linux.devices`, which runc
    /// makes with mknod. In one (`linux.uidMappings` set, which the builder does before edits),
    /// runc cannot mknod and would bind each entry from the host at its container path instead;
    /// Berth binds the node from where the host root has it, as Docker and the NVIDIA toolkit do
    /// under userns-remap. The mapped root opens it as an unprivileged host user, so the host
    /// node must be usable by others (0666, as NVIDIA's driver makes /dev/nvidia*). A node the
    /// host lacks cannot be bound and is left out; the device cgroup rules stay in both cases.
    static func deviceNodes(_ nodes: [Node]) -> SpecEdit {
        SpecEdit("GPU device nodes") { spec in
            guard let mappings = spec.linux?.uidMappings, !mappings.isEmpty else {
                try devices(nodes.map(\.device)).apply(&spec)
                return
            }
            var linux = spec.linux ?? RuntimeSpec.Linux()
            linux.devices = linux.devices?.filter { device in !nodes.contains { $0.device.path == device.path } }
            spec.linux = linux
            try mounts(nodes.compactMap { node in
                node.hostNode.map {
                    RuntimeSpec.Mount(destination: node.device.path, type: "bind", source: $0, options: deviceBindOptions)
                }
            }).apply(&spec)
        }
    }

    static func mounts(_ mounts: [RuntimeSpec.Mount]) -> SpecEdit {
        SpecEdit("GPU mounts") { spec in
            var result = spec.mounts ?? []
            for mount in mounts {
                result.removeAll { $0.destination == mount.destination }
                result.append(mount)
            }
            spec.mounts = result
        }
    }

    /// Sets variables in the order given, replacing same-named ones in place.
    static func environment(_ variables: [(name: String, value: String)]) -> SpecEdit {
        SpecEdit("GPU environment") { spec in
            var process = spec.process ?? RuntimeSpec.Process()
            var env = process.env ?? []
            for (name, value) in variables {
                let entry = "\(name)=\(value)"
                let sameName = { (variable: String) in variable.split(separator: "=", maxSplits: 1).first.map(String.init) == name }
                if let index = env.firstIndex(where: sameName) {
                    env[index] = entry
                    env = env.enumerated().filter { $0.offset <= index || !sameName($0.element) }.map(\.element)
                } else {
                    env.append(entry)
                }
            }
            process.env = env
            spec.process = process
        }
    }

    static func additionalGroups(_ gids: [UInt32]) -> SpecEdit {
        SpecEdit("GPU additional groups") { spec in
            var process = spec.process ?? RuntimeSpec.Process()
            var groups = process.user.additionalGids ?? []
            for gid in gids where !groups.contains(gid) { groups.append(gid) }
            process.user.additionalGids = groups
            spec.process = process
        }
    }

    static func stage(_ hookName: String) -> SpecEdit.HookStage? {
        switch hookName {
        case "prestart": .prestart
        case "createRuntime": .createRuntime
        case "createContainer": .createContainer
        case "startContainer": .startContainer
        case "poststart": .poststart
        case "poststop": .poststop
        default: nil
        }
    }
}

import Runtime

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

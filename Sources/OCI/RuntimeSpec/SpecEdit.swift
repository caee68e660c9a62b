/// A change to an assembled spec, for parts that plug in (GPU injection: device nodes, device
/// cgroup rules, driver library mounts, env). Errors thrown by `apply` fail the build, named.
public struct SpecEdit: Sendable {
    public var name: String
    public var apply: @Sendable (inout RuntimeSpec) throws -> Void

    public init(_ name: String, _ apply: @escaping @Sendable (inout RuntimeSpec) throws -> Void) {
        self.name = name
        self.apply = apply
    }

    public static func mounts(_ mounts: [RuntimeSpec.Mount]) -> SpecEdit {
        SpecEdit("mounts") { spec in spec.mounts = (spec.mounts ?? []) + mounts }
    }

    /// Device nodes runc creates in the container's /dev.
    public static func devices(_ devices: [RuntimeSpec.Device]) -> SpecEdit {
        SpecEdit("devices") { spec in
            var linux = spec.linux ?? RuntimeSpec.Linux()
            linux.devices = (linux.devices ?? []) + devices
            spec.linux = linux
        }
    }

    /// Device cgroup rules, after the defaults.
    public static func deviceRules(_ rules: [RuntimeSpec.DeviceCgroup]) -> SpecEdit {
        SpecEdit("device rules") { spec in
            var linux = spec.linux ?? RuntimeSpec.Linux()
            var resources = linux.resources ?? RuntimeSpec.Resources()
            resources.devices = (resources.devices ?? []) + rules
            linux.resources = resources
            spec.linux = linux
        }
    }

    /// Sets variables (replacing same-named ones in place, else appending in name order).
    public static func environment(_ variables: [String: String]) -> SpecEdit {
        SpecEdit("environment") { spec in
            var process = spec.process ?? RuntimeSpec.Process()
            process.env = RuntimeSpec.Process.setting(variables.sorted { $0.key < $1.key }, in: process.env ?? [])
            spec.process = process
        }
    }

    public static func annotations(_ annotations: [String: String]) -> SpecEdit {
        SpecEdit("annotations") { spec in
            spec.annotations = (spec.annotations ?? [:]).merging(annotations) { $1 }
        }
    }

    public enum HookStage: Sendable {
        case prestart, createRuntime, createContainer, startContainer, poststart, poststop
    }

    public static func hook(_ hook: RuntimeSpec.Hook, at stage: HookStage) -> SpecEdit {
        SpecEdit("hook \(hook.path)") { spec in
            var hooks = spec.hooks ?? RuntimeSpec.Hooks()
            switch stage {
            case .prestart: hooks.prestart = (hooks.prestart ?? []) + [hook]
            case .createRuntime: hooks.createRuntime = (hooks.createRuntime ?? []) + [hook]
            case .createContainer: hooks.createContainer = (hooks.createContainer ?? []) + [hook]
            case .startContainer: hooks.startContainer = (hooks.startContainer ?? []) + [hook]
            case .poststart: hooks.poststart = (hooks.poststart ?? []) + [hook]
            case .poststop: hooks.poststop = (hooks.poststop ?? []) + [hook]
            }
            spec.hooks = hooks
        }
    }
}

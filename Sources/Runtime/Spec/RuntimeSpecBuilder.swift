import Foundation
import OCI

/// Builds a revision's OCI runtime spec: containerd's defaults (`SpecDefaults`), the image's
/// config applied as containerd's `WithImageConfig` does, Berth's limits, namespaces and files,
/// then the spec edits.
///
/// Image config:
/// - args: `Entrypoint` + `Cmd` (neither is an error);
/// - env: the image's variables in order, then the revision's by name (replacing in place,
///   else appended in name order), `PATH` added first when nothing set it, and `PORT` set to
///   the container's port last: as on Cloud Run, `PORT` is reserved and neither the image nor the
///   request can change it;
/// - cwd: `WorkingDir`, default "/" (a relative one is taken from "/");
/// - user: see `UserResolver`; default root.
///
/// Confinement: containerd's capabilities, namespaces (plus a cgroup namespace) and masked
/// paths (plus Berth's), and the seccomp profile of `SpecInputs.seccomp`.
///
/// Limits: CFS period 100 ms and quota `cpu × period` (at least 1 ms), `cpu.shares` `cpu × 1024`
/// (2…262144); memory limit and memory+swap limit both the memory (no swap); the pids limit.
public struct RuntimeSpecBuilder: Sendable {
    public var inputs: SpecInputs

    public init(_ inputs: SpecInputs) {
        self.inputs = inputs
    }

    public static func build(_ inputs: SpecInputs) throws(SpecError) -> RuntimeSpec {
        try RuntimeSpecBuilder(inputs).build()
    }

    public func build() throws(SpecError) -> RuntimeSpec {
        let config = inputs.imageConfig
        let args = (config.Entrypoint ?? []) + (config.Cmd ?? [])
        guard !args.isEmpty else { throw .noCommand }
        let user = try UserResolver.resolveUser(config.User ?? "", passwd: inputs.passwd, group: inputs.group)

        let process = RuntimeSpec.Process(
            user: RuntimeSpec.User(uid: user.uid, gid: user.gid, additionalGids: user.additionalGids),
            args: args,
            env: try environment(),
            cwd: Self.workingDirectory(config.WorkingDir),
            capabilities: RuntimeSpec.Capabilities(bounding: SpecDefaults.capabilities, effective: SpecDefaults.capabilities,
                                                   permitted: SpecDefaults.capabilities),
            rlimits: [RuntimeSpec.Rlimit(type: "RLIMIT_NOFILE", hard: inputs.openFilesLimit, soft: inputs.openFilesLimit)],
            noNewPrivileges: true,
            oomScoreAdj: inputs.oomScoreAdj)

        var mounts = SpecDefaults.mounts
        for (destination, source) in [("/etc/hosts", inputs.hostsPath), ("/etc/resolv.conf", inputs.resolvConfPath),
                                      ("/etc/hostname", inputs.hostnamePath)] {
            if let source {
                mounts.append(RuntimeSpec.Mount(destination: destination, type: "bind", source: source,
                                                options: SpecDefaults.readonlyBindOptions))
            }
        }
        mounts += inputs.extraMounts

        var namespaces = SpecDefaults.namespaceTypes.map { type in
            RuntimeSpec.Namespace(type: type, path: type == "network" ? inputs.networkNamespacePath : nil)
        }
        if let mapping = inputs.userNamespace {
            try Self.checkMapped(user, in: mapping)
            namespaces.append(RuntimeSpec.Namespace(type: "user"))
            mounts = Self.userNamespaceMounts(mounts)
        }

        var spec = RuntimeSpec(
            process: process,
            root: RuntimeSpec.Root(path: inputs.rootfsPath),
            hostname: inputs.hostname,
            mounts: mounts,
            annotations: inputs.annotations.isEmpty ? nil : inputs.annotations,
            linux: RuntimeSpec.Linux(
                uidMappings: inputs.userNamespace?.idMappings,
                gidMappings: inputs.userNamespace?.idMappings,
                resources: try resources(),
                cgroupsPath: inputs.cgroupsPath,
                namespaces: namespaces,
                maskedPaths: SpecDefaults.maskedPaths,
                readonlyPaths: SpecDefaults.readonlyPaths,
                seccomp: inputs.seccomp))

        for edit in inputs.edits {
            do {
                try edit.apply(&spec)
            } catch let error as SpecError {
                throw error
            } catch {
                throw .edit(name: edit.name, message: "\(error)")
            }
        }
        // PORT is the container's port whatever an edit did.
        if var process = spec.process {
            process.env = Self.setting([("PORT", String(inputs.port))], in: process.env ?? [])
            spec.process = process
        }
        return spec
    }

    // MARK: - Parts

    /// In a user namespace that does not own the network namespace (CNI made it, in the host's
    /// user namespace) the kernel refuses to mount sysfs (EPERM): /sys is bound from the host,
    /// read-only, as rootless runc and Podman do. Its files are then the host's, shown as owned
    /// by nobody and read-only. devpts' gid=5, mqueue and the cgroup mount keep working: gid 5 is
    /// mapped and the others belong to namespaces the container's own user namespace owns.
    static func userNamespaceMounts(_ mounts: [RuntimeSpec.Mount]) -> [RuntimeSpec.Mount] {
        mounts.map { mount in
            guard mount.destination == "/sys", mount.type == "sysfs" else { return mount }
            return RuntimeSpec.Mount(destination: "/sys", type: "bind", source: "/sys",
                                     options: ["rbind", "nosuid", "noexec", "nodev", "ro"])
        }
    }

    /// runc cannot switch to an id the namespace does not map: say so before it fails.
    static func checkMapped(_ user: UserResolver.Resolved, in mapping: UserNamespaceMapping) throws(SpecError) {
        for id in [user.uid, user.gid] + user.additionalGids where mapping.hostID(id) == nil {
            throw .invalidUser("id \(id) is outside the container's user namespace (0…\(mapping.size - 1))")
        }
    }

    func environment() throws(SpecError) -> [String] {
        for (key, value) in inputs.env {
            if key.isEmpty || key.contains("=") || key.contains("\0") {
                throw .invalidEnvironment("\"\(key)\" is not a variable name")
            }
            if value.contains("\0") { throw .invalidEnvironment("the value of \(key) contains a NUL byte") }
        }
        guard (1...65535).contains(inputs.port) else {
            throw .invalidEnvironment("port \(inputs.port) is not between 1 and 65535")
        }
        var env = Self.setting(inputs.env.sorted { $0.key < $1.key }, in: inputs.imageConfig.Env ?? [])
        if !env.contains(where: { Self.name(of: $0) == "PATH" }) {
            env.insert(SpecDefaults.path, at: 0)
        }
        return Self.setting([("PORT", String(inputs.port))], in: env)
    }

    func resources() throws(SpecError) -> RuntimeSpec.Resources {
        let cpu = inputs.cpu
        guard cpu.isFinite, cpu > 0, cpu <= 1_000_000 else { throw .invalidLimit("cpu \(cpu) is not a positive number of cores") }
        guard inputs.memoryBytes > 0 else { throw .invalidLimit("memory \(inputs.memoryBytes) is not a positive number of bytes") }
        guard inputs.pidsLimit > 0 else { throw .invalidLimit("pids limit \(inputs.pidsLimit) is not positive") }
        return RuntimeSpec.Resources(
            devices: SpecDefaults.deviceRules,
            memory: RuntimeSpec.Memory(limit: inputs.memoryBytes, swap: inputs.limitSwap ? inputs.memoryBytes : nil),
            cpu: Self.cpu(cores: cpu),
            pids: RuntimeSpec.Pids(limit: inputs.pidsLimit))
    }

    /// CFS quota and period, and shares, for `cores` (> 0).
    public static func cpu(cores: Double) -> RuntimeSpec.CPU {
        let period = SpecDefaults.cpuPeriod
        let quota = max(SpecDefaults.minimumCPUQuota, Int64((cores * Double(period)).rounded()))
        let shares = min(SpecDefaults.maximumCPUShares, max(SpecDefaults.minimumCPUShares, UInt64((cores * 1024).rounded())))
        return RuntimeSpec.CPU(shares: shares, quota: quota, period: period)
    }

    static func workingDirectory(_ directory: String?) -> String {
        guard let directory, !directory.isEmpty else { return "/" }
        return directory.hasPrefix("/") ? directory : "/" + directory
    }

    static func name(of variable: String) -> Substring {
        RuntimeSpec.Process.name(of: variable)
    }

    static func setting(_ variables: [(key: String, value: String)], in env: [String]) -> [String] {
        RuntimeSpec.Process.setting(variables, in: env)
    }
}

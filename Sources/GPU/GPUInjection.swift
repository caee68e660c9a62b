import OCI

extension GPUDiscovery {
    /// The spec edits that give a container exactly `devices` (taken from `inventory`) and no
    /// other GPU; none for none.
    ///
    /// - From CDI: the edits of each spec the devices come from (once per spec, before its first
    ///   device), then each device's own, in order, as the CDI library merges them: device nodes
    ///   with a device-cgroup allow rule each (the node's `permissions`, "rwm" by default; type and
    ///   numbers read from the host node when the spec leaves them out), mounts, env, hooks,
    ///   additional groups. Host paths in the spec (mount sources, hook programs, device nodes
    ///   read for numbers) are read under `hostRoot`.
    /// - From the driver: each GPU's /dev/nvidia<minor> and the control nodes as devices, each
    ///   allowed "rw" in the device cgroup (runc already allows mknod of any device; the default
    ///   rules deny everything else), the driver's libraries and programs bind-mounted read-only at
    ///   their host paths, NVIDIA_VISIBLE_DEVICES (UUIDs, or minors when a UUID is unknown) and
    ///   NVIDIA_DRIVER_CAPABILITIES=compute,utility.
    public func injection(for devices: [GPUDevice], inventory: GPUInventory) throws -> [SpecEdit] {
        guard !devices.isEmpty else { return [] }
        var seen = Set<String>()
        for device in devices {
            guard inventory.devices.contains(where: { $0.id == device.id }) else { throw GPUError.unknownDevice(device.id) }
            guard seen.insert(device.id).inserted else { throw GPUError.invalidRequest("GPU \(device.id) is asked for twice") }
        }
        switch inventory.source {
        case .cdi: return try cdiInjection(devices, inventory: inventory)
        case .driver, .none: return try driverInjection(devices, inventory: inventory)
        }
    }

    private func cdiInjection(_ devices: [GPUDevice], inventory: GPUInventory) throws(GPUError) -> [SpecEdit] {
        var edits = CDISpec.ContainerEdits()
        var specs = Set<String>()
        for device in devices {
            guard let name = device.cdiName, let entry = inventory.cdiDevices[name] else { throw .unknownDevice(device.id) }
            if specs.insert(entry.specPath).inserted, let specEdits = inventory.cdiSpecEdits[entry.specPath] {
                edits.append(specEdits)
            }
            edits.append(entry.edits)
        }
        return try specEdits(edits)
    }

    /// CDI container edits as spec edits.
    func specEdits(_ edits: CDISpec.ContainerEdits) throws(GPUError) -> [SpecEdit] {
        let root = self.root
        var result: [SpecEdit] = []
        let variables = (edits.env ?? []).map { variable in
            let parts = variable.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (name: String(parts[0]), value: parts.count > 1 ? String(parts[1]) : "")
        }
        if !variables.isEmpty { result.append(GPUSpecEdits.environment(variables)) }

        var devices: [GPUSpecEdits.Node] = []
        var rules: [RuntimeSpec.DeviceCgroup] = []
        for node in edits.deviceNodes ?? [] {
            let device = try resolve(node, root: root)
            devices.append(.init(device: device, hostNode: Self.hostNode(node.hostPath ?? node.path, root: root)))
            if device.type == "c" || device.type == "b" {
                rules.append(.init(allow: true, type: device.type, major: device.major, minor: device.minor,
                                   access: node.permissions ?? "rwm"))
            }
        }
        if !devices.isEmpty {
            result.append(GPUSpecEdits.deviceNodes(devices))
            result.append(.deviceRules(rules))
        }

        let mounts = (edits.mounts ?? []).map { mount in
            RuntimeSpec.Mount(destination: mount.containerPath, type: mount.type, source: root.path(mount.hostPath),
                              options: mount.options)
        }
        if !mounts.isEmpty { result.append(GPUSpecEdits.mounts(mounts)) }

        for hook in edits.hooks ?? [] {
            guard let stage = GPUSpecEdits.stage(hook.hookName) else {
                throw .invalidCDISpec("hook \(hook.path): unknown hookName \"\(hook.hookName)\"")
            }
            result.append(.hook(RuntimeSpec.Hook(path: root.path(hook.path), args: hook.args, env: hook.env,
                                                 timeout: hook.timeout), at: stage))
        }
        if let gids = edits.additionalGids, !gids.isEmpty { result.append(GPUSpecEdits.additionalGroups(gids)) }
        return result
    }

    /// The node with the type and numbers the spec leaves out read from the host's node, as the
    /// CDI library does.
    private func resolve(_ node: CDISpec.DeviceNode, root: HostRoot) throws(GPUError) -> RuntimeSpec.Device {
        let hostPath = node.hostPath ?? node.path
        var type = node.type
        var major = node.major
        var minor = node.minor
        var fileMode = node.fileMode
        let needsNumbers = type == nil || ((type == "c" || type == "b") && (major == nil || minor == nil))
        if needsNumbers, let info = root.status(hostPath), info.isCharacterDevice || info.isBlockDevice {
            let hostType = info.isCharacterDevice ? "c" : "b"
            if let type, type != hostType {
                throw .missingDeviceNode("CDI device node \(node.path): the spec says type \(type), \(hostPath) on the host is \(hostType)")
            }
            type = hostType
            major = major ?? info.deviceMajor
            minor = minor ?? info.deviceMinor
            fileMode = fileMode ?? info.permissionBits
        }
        guard let type, type == "p" || (major != nil && minor != nil) else {
            throw .missingDeviceNode("CDI device node \(node.path): \(hostPath) is not a device on this host "
                + "and the spec does not give its type and numbers")
        }
        return RuntimeSpec.Device(path: node.path, type: type, major: major ?? 0, minor: minor ?? 0, fileMode: fileMode,
                                  uid: node.uid, gid: node.gid)
    }

    /// Where the host node `hostPath` is read here, when it is a device node there: the source
    /// of its bind mount under a user namespace (`GPUSpecEdits.deviceNodes`).
    static func hostNode(_ hostPath: String, root: HostRoot) -> String? {
        guard let info = root.status(hostPath), info.isCharacterDevice || info.isBlockDevice else { return nil }
        return root.path(root.canonical(hostPath) ?? hostPath)
    }

    private func driverInjection(_ devices: [GPUDevice], inventory: GPUInventory) throws(GPUError) -> [SpecEdit] {
        let root = self.root
        guard let driver = inventory.driver else { throw .unknownDevice(devices[0].id) }
        var nodes: [DeviceNode] = []
        for device in devices {
            guard let minor = device.minor, let node = driver.gpuNodes[minor] else { throw .unknownDevice(device.id) }
            nodes.append(node)
        }
        nodes += driver.controlNodes
        let visible = devices.allSatisfy { $0.uuid != nil }
            ? devices.compactMap(\.uuid) : devices.compactMap { $0.minor.map(String.init) }
        return [
            GPUSpecEdits.deviceNodes(nodes.map {
                .init(device: RuntimeSpec.Device(path: $0.path, type: $0.type, major: $0.major, minor: $0.minor,
                                                 fileMode: $0.fileMode, uid: 0, gid: 0),
                      hostNode: Self.hostNode($0.path, root: root))
            }),
            .deviceRules(nodes.map { .init(allow: true, type: $0.type, major: $0.major, minor: $0.minor, access: "rw") }),
            GPUSpecEdits.mounts(driver.mounts.map {
                RuntimeSpec.Mount(destination: $0.destination, type: "bind", source: $0.source,
                                  options: RuntimeSpec.Mount.readonlyBindOptions + ["nosuid", "nodev"])
            }),
            GPUSpecEdits.environment([
                ("NVIDIA_VISIBLE_DEVICES", visible.joined(separator: ",")),
                ("NVIDIA_DRIVER_CAPABILITIES", "compute,utility"),
            ]),
        ]
    }
}

import Foundation
import JSONValue
import Logging

/// Attaches containers to the network with the standard CNI plugins. It owns the network
/// namespaces it creates, named "berth-<containerID>" under the netns directory. Calls for
/// different containers run concurrently; calls for one container run one after another.
public final class CNINetwork: Sendable {
    public static let namespacePrefix = "berth-"
    public static let loopbackInterface = "lo"

    public let configuration: CNIConfiguration
    private let logger: Logger
    private let executor: PluginExecutor
    private let namespaces: NetworkNamespaces
    private let store: AttachmentStore
    private let masquerade: MasqueradeCleanup
    private let locks = KeyedLock()
    private let mainList: JSONValue
    private let loopbackList: JSONValue

    /// Validates the configuration and finds the plugins (bridge, host-local, loopback).
    public init(configuration: CNIConfiguration, logger: Logger = Logger(label: "berth.cni")) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        let executor = PluginExecutor(pluginDirectories: configuration.pluginDirectories, logger: logger)
        let missing = CNIConfiguration.requiredPlugins.filter { executor.locate($0) == nil }
        guard missing.isEmpty else {
            throw CNIConfigurationError.pluginsNotFound(missing, searched: configuration.pluginDirectories)
        }
        self.executor = executor
        namespaces = NetworkNamespaces(directory: configuration.netnsDirectory)
        store = AttachmentStore(directory: configuration.resultsDirectory, node: configuration.nodeIdentity)
        store.removePartialWrites()
        masquerade = MasqueradeCleanup(logger: logger)
        mainList = try configuration.conflistValue()
        loopbackList = try configuration.loopbackConflistValue()
    }

    public func netnsPath(containerID: String) -> String {
        namespaces.path(Self.namespacePrefix + containerID)
    }

    /// Asks each plugin which spec versions it speaks (VERSION) and throws when one does not
    /// speak the configured cniVersion.
    public func verifyPlugins() async throws {
        for plugin in CNIConfiguration.requiredPlugins {
            let versions = try await executor.supportedVersions(of: plugin, cniVersion: configuration.cniVersion)
            guard versions.contains(configuration.cniVersion) else {
                throw CNIError(code: 1, message: "supports \(versions.joined(separator: ", ")), not \(configuration.cniVersion)",
                               plugin: plugin, command: "VERSION")
            }
        }
    }

    /// Creates the namespace, runs ADD for the network (eth0) and for the loopback (lo), records
    /// the result and returns the attachment. A namespace or record left by a crash is cleaned
    /// with DEL first and the namespace reused. On failure everything done is undone.
    public func attach(containerID: String) async throws -> NetworkAttachment {
        try await attach(try await prepareAttachment(containerID: containerID))
    }

    /// The first half of ``attach(containerID:)``: the record (results still empty) and the
    /// namespace, at ``netnsPath(containerID:)``. A task can be created in the namespace while
    /// the second half, ``attach(_:)``, gives it its interfaces. An attach never finished (the
    /// second half not run, or cut short) is cleaned by the next attach or by a detach.
    public func prepareAttachment(containerID: String) async throws -> PreparedAttachment {
        try Self.validate(containerID)
        return try await locks.withLock(containerID) { try await prepareLocked(containerID) }
    }

    /// The second half of an attach: ADD for each network, the container's isolation, the
    /// record's results. On failure everything done, the namespace included, is undone.
    public func attach(_ prepared: PreparedAttachment) async throws -> NetworkAttachment {
        try await locks.withLock(prepared.containerID) {
            let started = ContinuousClock.now
            let attachment = try await completeLocked(prepared)
            logger.debug("attached", metadata: ["container": "\(prepared.containerID)", "address": "\(attachment.address)",
                                                "duration": "\(ContinuousClock.now - started)"])
            return attachment
        }
    }

    /// DEL (always, also when the namespace is gone, so host-local releases the address), then
    /// removes the namespace and the record. Detaching twice, or an id never attached, is fine.
    /// When DEL fails the namespace and record stay, so that detaching again retries.
    public func detach(containerID: String) async throws {
        try Self.validate(containerID)
        try await locks.withLock(containerID) {
            let started = ContinuousClock.now
            var record = loadForCleanup(containerID)
            if var marked = record, marked.detaching != true {
                marked.detaching = true
                try store.save(marked)
                record = marked
            }
            // The recorded path: the netns directory may have been configured differently then.
            let path = record?.netnsPath ?? netnsPath(containerID: containerID)
            try await deleteNetworks(containerID, record: record, path: path)
            try namespaces.delete(path)
            try store.remove(containerID)
            logger.debug("detached", metadata: ["container": "\(containerID)", "duration": "\(ContinuousClock.now - started)"])
        }
    }

    /// CHECK for the container's networks, with the recorded ADD results as prevResult.
    public func check(containerID: String) async throws {
        try Self.validate(containerID)
        try await locks.withLock(containerID) {
            guard let record = try store.load(containerID) else { throw CNINetworkError.notAttached(containerID: containerID) }
            guard NetworkNamespaces.isNamespace(record.netnsPath) else {
                throw CNINetworkError.namespaceMissing(containerID: containerID, path: record.netnsPath)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for network in record.networks {
                    guard let result = network.result else { throw CNINetworkError.notAttached(containerID: containerID) }
                    group.addTask {
                        try await self.executor.check(list: network.config, prevResult: result, containerID: containerID,
                                                      netns: record.netnsPath, ifName: network.ifName)
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    /// The attachment recorded for a container, nil when there is none.
    public func attachment(containerID: String) throws -> NetworkAttachment? {
        try Self.validate(containerID)
        // A record without results is an attach that never finished, and one marked detaching
        // a detach cut short: nothing to use.
        guard let record = try store.load(containerID), record.isComplete else { return nil }
        return try attachment(from: record)
    }

    /// Containers this instance has a record for (attached, or interrupted mid-attach), to
    /// clean up after a crash. Namespaces without a record are another instance's.
    public func attachedContainerIDs() throws -> [String] {
        Set(store.containerIDs()).filter(Self.isValid).sorted()
    }

    // MARK: - Bridge

    /// Makes the bridge's address match `subnet` before anything is attached or recovered
    /// (``BridgeAddressPlan``): an existing bridge with another address is renumbered when no
    /// container uses it (no attachment record here, no port on it), and otherwise start is
    /// refused with a ``BridgeAddressConflict``. Run it before ``ensurePolicy(resolvers:)``, so
    /// the policy is built for the address the bridge ends up with.
    ///
    /// A record of an attach that never finished (or of a detach cut short) does not count: that
    /// is what every create left while the bridge plugin refused the bridge (its DEL had already
    /// removed the veth, and a veth still there counts as a port). An unreadable record counts.
    public func ensureBridgeAddress() async throws {
        let bridge = configuration.bridge
        let subnet = try IPv4Network(cidr: configuration.subnet)
        let finished = try attachedContainerIDs().filter { id in
            guard let record = try? store.load(id) else { return true }
            return record.isComplete
        }
        let state = BridgeLink.state(bridge: bridge, records: finished.count)
        switch BridgeAddressPlan.decide(bridge: bridge, subnet: subnet, state: state) {
        case .keep:
            return
        case .refuse(let conflict):
            throw conflict
        case .reconfigure(let remove, let add):
            logger.notice("renumbering the unused bridge for the configured subnet", metadata: [
                "bridge": "\(bridge)", "from": "\(remove.map(\.description).joined(separator: ", "))", "to": "\(add)",
            ])
            try await BridgeLink.renumber(bridge, remove: remove, add: add)
        }
    }

    // MARK: - Network policy

    /// Puts Berth's network policy for the bridge in place (``NetworkPolicy``): its chains
    /// created, or refilled when they exist, and the jumps into them inserted once. Run at every
    /// start, so a reboot (which empties the tables) or a changed allow list is taken care of.
    /// Ports of containers attached before (by an older berthd) are isolated too.
    public func ensurePolicy(resolvers: [String]) async throws {
        try await PolicyTables(logger: logger).apply(try policy(resolvers: resolvers))
        for id in try attachedContainerIDs() {
            guard let veth = (try? attachment(containerID: id))?.hostInterface,
                  FileManager.default.fileExists(atPath: "/sys/class/net/\(veth)/brport") else { continue }
            try ContainerIsolation.isolatePort(veth)
        }
    }

    /// The policy ``ensurePolicy(resolvers:)`` applies, with the host's current addresses.
    public func policy(resolvers: [String]) throws -> NetworkPolicy {
        NetworkPolicy(bridge: configuration.bridge, subnet: try IPv4Network(cidr: configuration.subnet),
                      egressAllow: try configuration.egressAllow.map { try IPCIDR($0) }, resolvers: resolvers,
                      hostAddresses: PolicyTables.hostAddresses())
    }

    /// Removes the bridge's Berth chains and the jumps into them, and nothing else. berthd never
    /// deletes its bridge (containers outlive it), so the policy stays with the bridge; this is
    /// for whoever removes the bridge (tests, an uninstall).
    public static func removePolicy(bridge: String, logger: Logger = Logger(label: "berth.cni")) async throws {
        try await PolicyTables(logger: logger).remove(bridge: bridge)
    }

    /// The per-container part of the policy, before anything runs in the namespace.
    private func isolate(_ attachment: NetworkAttachment) async throws {
        guard let veth = attachment.hostInterface else {
            throw CNINetworkError.unexpectedResult(containerID: attachment.containerID, reason: "no host-side interface in the result")
        }
        try ContainerIsolation.isolatePort(veth)
        try await ContainerIsolation.configureNamespace(attachment.netnsPath, interface: attachment.interface,
                                                        keepIPv6: configuration.ipv6)
    }

    // MARK: - Steps

    private func prepareLocked(_ containerID: String) async throws -> PreparedAttachment {
        let path = netnsPath(containerID: containerID)
        let stale = loadForCleanup(containerID)
        var reuse = NetworkNamespaces.isNamespace(path)
        if stale != nil || reuse {
            logger.info("cleaning up a previous attachment before attaching", metadata: ["container": "\(containerID)"])
            let stalePath = stale?.netnsPath ?? path
            try await deleteNetworks(containerID, record: stale, path: stalePath)
            if stalePath != path { try namespaces.delete(stalePath) }
            try store.remove(containerID)
            reuse = NetworkNamespaces.isNamespace(path)
        }
        let networks: [AttachmentRecord.Network] = [
            .init(ifName: configuration.interfaceName, config: mainList),
            .init(ifName: Self.loopbackInterface, config: loopbackList),
        ]
        // Recorded before anything is made, results still empty: after a crash mid-attach this
        // instance finds what to clean by its own records, never by the host's namespaces
        // (another berthd on the host has berth-* namespaces too).
        try store.save(AttachmentRecord(containerID: containerID, netnsPath: path, networks: networks))
        if !reuse { try await namespaces.create(path) }
        return PreparedAttachment(containerID: containerID, netnsPath: path, networks: networks)
    }

    private func completeLocked(_ prepared: PreparedAttachment) async throws -> NetworkAttachment {
        let (containerID, path, networks) = (prepared.containerID, prepared.netnsPath, prepared.networks)

        // Both ADDs at once, as two `async let`s of a function that returns a Result. The task
        // group this replaced (78d5c09) hit a Swift 6.3.1 -O miscompile, the release-only SIGILL
        // (index out of range on the array update with a garbage index): a task body that
        // returns a tuple from a `do` and its `catch`, with a `try await` inside the tuple,
        //     Task { () -> (Int, String) in
        //         do { return (index, try await f()) } catch { return (index, "failed") }
        //     }.value                                     // -O: (0, …) once f suspended
        // loses the tuple's first element on the success path: LLVM's DSE pass (found with
        // -Xllvm -opt-bisect-limit) deletes its store into the task's result, made before the
        // suspension. No race (TSan silent, ASan silent, wrong value every time, no load
        // needed); plain async functions, `async let`, structs and awaiting before building the
        // tuple are compiled correctly. Do not return tuples that way from addTask or Task {}.
        async let mainAdd = addResult(networks[0], containerID: containerID, path: path)
        async let loopbackAdd = addResult(networks[1], containerID: containerID, path: path)
        let results = [await mainAdd, await loopbackAdd]
        var completed = networks
        var failure: (any Error)?
        for (index, result) in results.enumerated() {
            switch result {
            case .success(let value): completed[index].result = value
            case .failure(let error): failure = failure ?? error
            }
        }
        let record = AttachmentRecord(containerID: containerID, netnsPath: path, networks: completed)
        do {
            if let failure { throw failure }
            let attachment = try attachment(from: record)
            try await isolate(attachment)
            try store.save(record)
            return attachment
        } catch {
            logger.warning("attach failed; undoing", metadata: ["container": "\(containerID)", "error": "\(error)"])
            do {
                try await deleteNetworks(containerID, record: record, path: path)
                try namespaces.delete(path)
                try store.remove(containerID)
            } catch let undoError {
                logger.error("undoing a failed attach failed", metadata: ["container": "\(containerID)", "error": "\(undoError)"])
            }
            throw error
        }
    }

    /// DEL for every network of the record (or of the current configuration when there is no
    /// record), concurrently, then removes NAT rules the bridge plugin could not find. The
    /// namespace is passed only when it exists; the spec allows an empty CNI_NETNS for DEL.
    private func deleteNetworks(_ containerID: String, record: AttachmentRecord?, path: String) async throws {
        let networks = record?.networks ?? [
            .init(ifName: configuration.interfaceName, config: mainList),
            .init(ifName: Self.loopbackInterface, config: loopbackList),
        ]
        let namespaceExists = NetworkNamespaces.isNamespace(path)
        let main = networks.first { $0.ifName != Self.loopbackInterface }
        var masqueradeLeft = false
        if let main, Self.masquerades(main.config) {
            let recorded = try? record.map(attachment(from:))
            var found: String?
            if namespaceExists { found = await namespaces.ipv4Address(of: main.ifName, in: path) }
            masqueradeLeft = recorded == nil || found != recorded?.address
        }

        let netns = namespaceExists ? path : ""
        let errors = await withTaskGroup(of: (any Error)?.self) { group in
            for network in networks {
                group.addTask {
                    do {
                        try await self.executor.delete(list: network.config, prevResult: network.result, containerID: containerID,
                                                       netns: netns, ifName: network.ifName)
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            return await group.compactMap { $0 }.reduce(into: []) { $0.append($1) }
        }
        if masqueradeLeft, let main, let name = main.config["name"]?.stringValue {
            try await masquerade.removeRules(networkName: name, containerID: containerID)
        }
        if let error = errors.first { throw error }
    }

    private func attachment(from record: AttachmentRecord) throws(CNINetworkError) -> NetworkAttachment {
        guard let main = record.networks.first(where: { $0.ifName != Self.loopbackInterface }), let result = main.result else {
            throw .unexpectedResult(containerID: record.containerID, reason: "the record holds no result for the container's interface")
        }
        let bridge = main.config["plugins"]?.arrayValue?.first?["bridge"]?.stringValue ?? configuration.bridge
        return try NetworkAttachment(result: result, containerID: record.containerID, netnsPath: record.netnsPath,
                                     interface: main.ifName, bridge: bridge)
    }

    /// A record that cannot be read must not make a container impossible to detach: DEL then
    /// runs with the current configuration and no prevResult.
    private func addResult(_ network: AttachmentRecord.Network, containerID: String, path: String) async -> Result<JSONValue, any Error> {
        do {
            return .success(try await executor.add(list: network.config, containerID: containerID, netns: path, ifName: network.ifName))
        } catch {
            return .failure(error)
        }
    }

    private func loadForCleanup(_ containerID: String) -> AttachmentRecord? {
        do {
            return try store.load(containerID)
        } catch {
            logger.warning("ignoring an unreadable CNI record", metadata: ["container": "\(containerID)", "error": "\(error)"])
            return nil
        }
    }

    private static func masquerades(_ list: JSONValue) -> Bool {
        (list["plugins"]?.arrayValue ?? []).contains { $0["type"]?.stringValue == "bridge" && $0["ipMasq"] == .bool(true) }
    }

    /// The spec's rule for container ids (letters, digits, '_', '.', '-'); they also name
    /// files and namespaces here.
    static func isValid(_ containerID: String) -> Bool {
        !containerID.isEmpty && containerID.utf8.count <= 200 && containerID.first?.isNumberOrLetterASCII == true
            && containerID.allSatisfy { $0.isNumberOrLetterASCII || "_.-".contains($0) }
    }

    private static func validate(_ containerID: String) throws(CNINetworkError) {
        guard isValid(containerID) else { throw .invalidContainerID(containerID) }
    }
}

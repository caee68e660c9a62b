import Foundation

/// Everything on the host that one test node made, as full listings (one line per object),
/// so a fault test can compare before and after and print exactly what leaked.
///
/// Scoped to the node: its containerd namespace, its bridge, its data folder, and, for what
/// lives in host-wide places (network namespaces, cgroups, NAT rules), the objects whose names
/// carry one of the node's container ids. Ids come from `knownIDs` (what the test created) and
/// from everything the node itself holds (containerd objects, data folder, IPAM records), so a
/// namespace or cgroup left behind by a container the node has forgotten is still found, and
/// other tests' objects on the same host never are.
public struct HostInventory: Equatable, Sendable, CustomStringConvertible {
    public struct Scope: Sendable {
        public var containerdSocket: String
        public var namespace: String
        /// containerd's --state folder (task bundles and rootfs mounts live below it).
        public var containerdState: String?
        public var bridge: String
        public var dataDirectory: String
        /// Container ids (or runtime ids) the test made; more are discovered.
        public var knownIDs: Set<String>
        public var netnsDirectories = ["/run/netns", "/var/run/netns"]
        public var cgroupRoot = "/sys/fs/cgroup"
        /// The cgroup parent revisions are created under (SpecInputs.cgroupsPath).
        public var cgroupParent = "berth"

        public init(containerdSocket: String, namespace: String, containerdState: String?, bridge: String,
                    dataDirectory: String, knownIDs: Set<String> = []) {
            self.containerdSocket = containerdSocket
            self.namespace = namespace
            self.containerdState = containerdState
            self.bridge = bridge
            self.dataDirectory = dataDirectory
            self.knownIDs = knownIDs
        }
    }

    /// Category ("netns", "veth", "iptables", "mount", …) → sorted listing lines.
    public var listings: [String: [String]]

    public init(listings: [String: [String]]) {
        self.listings = listings.mapValues { $0.sorted() }
    }

    public var description: String {
        listings.keys.sorted().map { key in
            "\(key): " + (listings[key]!.isEmpty ? "(none)" : "\n    " + listings[key]!.joined(separator: "\n    "))
        }.joined(separator: "\n")
    }

    /// Takes every listing. Blocking (runs ctr, ip, iptables): call it off the cooperative pool
    /// (`take(_:)` async does).
    public static func takeBlocking(_ scope: Scope) throws -> HostInventory {
        var listings: [String: [String]] = [:]
        let ctr = ContainerdListings(socket: scope.containerdSocket, namespace: scope.namespace)
        listings["ctr.containers"] = try ctr.lines(["containers", "ls", "-q"])
        listings["ctr.tasks"] = try ctr.table(["tasks", "ls"]).map { "\($0[0]) \($0.last!)" }
        listings["ctr.snapshots"] = try ctr.table(["snapshots", "--snapshotter", "overlayfs", "ls"]).map { $0.joined(separator: " ") }
        // ID, created at, labels: the creation time is part of what a lease is (a new one is another lease).
        listings["ctr.leases"] = try ctr.table(["leases", "ls"]).map { $0.joined(separator: " ") }
        listings["ctr.images"] = try ctr.lines(["images", "ls", "-q"])
        listings["ctr.content"] = try ctr.lines(["content", "ls", "-q"])
        listings["ctr.ingests"] = try ctr.table(["content", "active"]).map { $0[0] }
        listings["shim"] = ShimListings(namespace: scope.namespace).lines()

        let files = DataFolderListings(directory: scope.dataDirectory)
        listings["data.containers"] = files.children("containers")
        listings["data.logs"] = files.children("logs")
        listings["cni.results"] = files.children("cni/results")
        listings["ipam"] = files.ipamRecords()

        // The ids every host-wide listing is scoped by.
        var ids = scope.knownIDs
        for lines in listings.values {
            for line in lines { ids.formUnion(ContainerIDs.all(in: line)) }
        }

        let netns = NetworkNamespaceListings(directories: scope.netnsDirectories, ids: ids)
        listings["netns"] = netns.names()
        listings["veth"] = try VethListings(bridge: scope.bridge, namespaces: netns.names()).lines()
        listings["bridge"] = (try? runCommand("ip", ["-o", "-4", "addr", "show", "dev", scope.bridge]))
            .map { $0.split(separator: "\n").map { line in Self.bridgeAddress(String(line)) } } ?? []
        for (tool, family) in [("iptables", "ipv4"), ("ip6tables", "ipv6")] {
            listings["\(family).rules"] = try RuleListings(tool: tool, bridge: scope.bridge, ids: ids).lines()
        }
        listings["mount"] = MountListings(scope: scope, netnsNames: netns.names()).lines()
        listings["loop"] = LoopListings(directory: scope.dataDirectory).lines()
        listings["cgroup"] = CgroupListings(root: scope.cgroupRoot, parent: scope.cgroupParent, ids: ids).lines()
        return HostInventory(listings: listings)
    }

    public static func take(_ scope: Scope) async throws -> HostInventory {
        try await onBlockingThread { try takeBlocking(scope) }
    }

    /// "inet 10.1.2.1/24" from `ip -o addr` (the interface index and lifetimes left out).
    static func bridgeAddress(_ line: String) -> String {
        let words = line.split(separator: " ")
        guard let index = words.firstIndex(of: "inet") ?? words.firstIndex(of: "inet6"), index + 1 < words.count else { return line }
        return "\(words[index]) \(words[index + 1])"
    }

    /// What is in `self` and not in `baseline` (added) and the other way round (removed).
    public func diff(from baseline: HostInventory) -> InventoryDiff {
        var diff = InventoryDiff()
        for key in Set(listings.keys).union(baseline.listings.keys).sorted() {
            let now = listings[key] ?? []
            let before = baseline.listings[key] ?? []
            let added = multisetDifference(now, before)
            let removed = multisetDifference(before, now)
            if !added.isEmpty { diff.added[key] = added }
            if !removed.isEmpty { diff.removed[key] = removed }
        }
        return diff
    }

    /// Lines that name no container id: what the node holds for itself (bridge, policy chains,
    /// cached images). They must be the same before and after any fault.
    public var unowned: HostInventory {
        var kept = listings
        for (key, lines) in listings where !Self.unownedCategories.contains(key) {
            kept[key] = lines.filter { ContainerIDs.all(in: $0).isEmpty }
        }
        return HostInventory(listings: kept)
    }

    /// Categories whose ids are not container ids (a lease is named "berth-<random UUID>"):
    /// always compared in full, never attributed to a container.
    static let unownedCategories: Set<String> = ["ctr.leases"]

    /// Lines that name a container or runtime id other than the given ones. A runtime id
    /// ("<container>-r<N>") is owned when it is in `revisions`; a bare container id when it is
    /// in `containers`.
    public func leaks(containers: Set<String>, revisions: Set<String>) -> InventoryDiff {
        var diff = InventoryDiff()
        for (key, lines) in listings where !Self.unownedCategories.contains(key) {
            let foreign = lines.filter { line in
                ContainerIDs.all(in: line).contains { id in
                    ContainerIDs.isRuntimeID(id) ? !revisions.contains(id) : !containers.contains(id)
                }
            }
            if !foreign.isEmpty { diff.added[key] = foreign }
        }
        return diff
    }

    private func multisetDifference(_ a: [String], _ b: [String]) -> [String] {
        var counts: [String: Int] = [:]
        for line in b { counts[line, default: 0] += 1 }
        return a.filter { line in
            if let n = counts[line], n > 0 { counts[line] = n - 1; return false }
            return true
        }
    }
}

/// A difference between two inventories, printed one object a line.
public struct InventoryDiff: Equatable, Sendable, CustomStringConvertible {
    public var added: [String: [String]] = [:]
    public var removed: [String: [String]] = [:]

    public init() {}

    public var isEmpty: Bool { added.isEmpty && removed.isEmpty }

    /// Objects in all, added plus removed.
    public var count: Int { added.values.map(\.count).reduce(0, +) + removed.values.map(\.count).reduce(0, +) }

    public var description: String {
        if isEmpty { return "(no difference)" }
        var lines: [String] = []
        for key in Set(added.keys).union(removed.keys).sorted() {
            lines += (added[key] ?? []).map { "+ \(key): \($0)" }
            lines += (removed[key] ?? []).map { "- \(key): \($0)" }
        }
        return lines.joined(separator: "\n")
    }
}

/// Berth's ids: a container id is a lowercased UUID, a revision's runtime id "<id>-r<N>".
public enum ContainerIDs {
    /// Every id in `text`, the runtime id when a "-r<N>" follows.
    public static func all(in text: String) -> Set<String> {
        var found: Set<String> = []
        let bytes = Array(text.utf8)
        var index = 0
        while index + 36 <= bytes.count {
            if isUUID(bytes[index..<(index + 36)]) {
                var end = index + 36
                if end + 1 < bytes.count, bytes[end] == UInt8(ascii: "-"), bytes[end + 1] == UInt8(ascii: "r") {
                    var digits = end + 2
                    while digits < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[digits]) { digits += 1 }
                    if digits > end + 2 { end = digits }
                }
                found.insert(String(decoding: bytes[index..<end], as: UTF8.self))
                index = end
            } else {
                index += 1
            }
        }
        return found
    }

    public static func isRuntimeID(_ id: String) -> Bool { id.utf8.count > 36 }

    public static func containerID(of id: String) -> String { String(id.prefix(36)) }

    private static func isUUID(_ bytes: ArraySlice<UInt8>) -> Bool {
        for (offset, byte) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(offset) {
                if byte != UInt8(ascii: "-") { return false }
            } else if !((UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)) {
                return false
            }
        }
        return true
    }
}

import Foundation

// The listings a HostInventory is made of, one small reader per kind of object.

extension ContainerIDs {
    /// True when `text` names one of `ids` (a runtime id matches through its container id too).
    static func mentions(_ text: String, anyOf ids: Set<String>) -> Bool {
        all(in: text).contains { ids.contains($0) || ids.contains(containerID(of: $0)) }
    }
}

/// containerd's objects in one namespace, through ctr.
struct ContainerdListings {
    let socket: String
    let namespace: String

    private func run(_ arguments: [String]) throws -> String {
        try runCommand("ctr", ["--address", socket, "--connect-timeout", "5s", "--namespace", namespace] + arguments)
    }

    func lines(_ arguments: [String]) throws -> [String] {
        try run(arguments).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// A table's rows (header dropped), split into words.
    func table(_ arguments: [String]) throws -> [[String]] {
        try lines(arguments).dropFirst().map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
            .filter { !$0.isEmpty }
    }
}

/// What the node keeps in its data folder per container and per address.
struct DataFolderListings {
    let directory: String

    func children(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory + "/" + folder)) ?? []).map { "\(folder)/\($0)" }
    }

    /// host-local's records: one file per address, holding the container id and interface.
    /// Its lock and last-reserved files change with every allocation and are left out.
    func ipamRecords() -> [String] {
        let base = directory + "/cni/networks"
        var lines: [String] = []
        for network in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] {
            for file in (try? FileManager.default.contentsOfDirectory(atPath: base + "/" + network)) ?? []
            where file != "lock" && !file.hasPrefix("last_reserved_ip") {
                let content = (try? String(contentsOfFile: "\(base)/\(network)/\(file)", encoding: .utf8)) ?? ""
                let owner = content.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).first.map(String.init) ?? ""
                lines.append("\(network)/\(file) \(owner)")
            }
        }
        return lines
    }
}

/// Named network namespaces (`ip netns` and CNI's folder) whose names carry one of the ids.
struct NetworkNamespaceListings {
    let directories: [String]
    let ids: Set<String>

    func names() -> [String] {
        var seen: Set<String> = []
        var names: [String] = []
        for directory in directories {
            let real = (try? FileManager.default.destinationOfSymbolicLink(atPath: directory)) ?? directory
            let resolved = URL(fileURLWithPath: real, relativeTo: URL(fileURLWithPath: directory).deletingLastPathComponent())
                .standardizedFileURL.resolvingSymlinksInPath().path
            guard seen.insert(resolved).inserted else { continue }
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            where ContainerIDs.mentions(name, anyOf: ids) {
                names.append(name)
            }
        }
        return names
    }
}

/// The bridge's ports, each with the namespace its peer is in ("?" when none of ours).
struct VethListings {
    let bridge: String
    let namespaces: [String]

    func lines() throws -> [String] {
        guard let ports = try? runCommand("ip", ["-o", "link", "show", "master", bridge]) else { return [] }
        var peers: [String: String] = [:]  // host ifindex → namespace
        for namespace in namespaces {
            let links = (try? runCommand("ip", ["-n", namespace, "-o", "link", "show"])) ?? ""
            for line in links.split(separator: "\n") {
                // "2: eth0@if12: <…>": the peer is interface 12 on the host.
                let name = line.split(separator: " ").dropFirst().first.map(String.init) ?? ""
                if let at = name.range(of: "@if") {
                    peers[String(name[at.upperBound...].dropLast())] = namespace
                }
            }
        }
        return ports.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ")
            guard words.count > 1 else { return nil }
            let index = String(words[0].dropLast())
            let name = words[1].split(separator: "@").first.map(String.init) ?? String(words[1])
            return "\(name) peer=\(peers[index] ?? "?")"
        }
    }
}

/// iptables rules (filter and nat) that name the bridge, its BERTH chains, or one of the ids,
/// with the CNI chains those rules jump to.
struct RuleListings {
    let tool: String
    let bridge: String
    let ids: Set<String>

    func lines() throws -> [String] {
        var result: [String] = []
        for table in ["filter", "nat", "mangle"] {
            guard let listing = try? runCommand(tool, ["-w", "-t", table, "-S"]) else { continue }
            let rules = listing.split(separator: "\n").map(String.init)
            let ours = [bridge, "BERTH-IN-" + bridge, "BERTH-FWD-" + bridge]
            var included = rules.filter { rule in
                let words = rule.split(separator: " ").map(String.init)
                return words.contains(where: ours.contains) || ContainerIDs.mentions(rule, anyOf: ids)
            }
            let chains = Set(included.flatMap { rule in
                rule.split(separator: " ").map(String.init).filter { $0.hasPrefix("CNI-") }
            })
            included += rules.filter { rule in
                let words = rule.split(separator: " ").map(String.init)
                return words.count > 1 && ["-N", "-A"].contains(words[0]) && chains.contains(words[1]) && !included.contains(rule)
            }
            // A chain's declaration names no container; it belongs to whoever its rules name.
            var owners: [String: String] = [:]
            for rule in included {
                let words = rule.split(separator: " ").map(String.init)
                if words.count > 1, words[0] == "-A", let id = ContainerIDs.all(in: rule).sorted().first { owners[words[1]] = id }
            }
            result += included.map { rule in
                let words = rule.split(separator: " ").map(String.init)
                if words.count == 2, words[0] == "-N", let owner = owners[words[1]], !ContainerIDs.mentions(rule, anyOf: [owner]) {
                    return "\(table): \(rule) (rules name \(owner))"
                }
                return "\(table): \(rule)"
            }
        }
        return result
    }
}

/// Mounts under the data folder, under containerd's task state for the namespace, and the
/// network namespaces' bind mounts: "mount point fstype source".
struct MountListings {
    let scope: HostInventory.Scope
    let netnsNames: [String]

    func lines() -> [String] {
        let text = (try? readProcFile("/proc/self/mountinfo")) ?? ""
        var prefixes = [scope.dataDirectory + "/"]
        if let state = scope.containerdState {
            prefixes.append("\(state)/io.containerd.runtime.v2.task/\(scope.namespace)/")
        }
        let netnsPoints = Set(scope.netnsDirectories.flatMap { directory in netnsNames.map { "\(directory)/\($0)" } })
        return text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count > 6, let dash = fields.firstIndex(of: "-"), dash + 2 < fields.count else { return nil }
            let point = fields[4].replacingOccurrences(of: "\\040", with: " ")
            guard point == scope.dataDirectory || prefixes.contains(where: point.hasPrefix) || netnsPoints.contains(point) else { return nil }
            return "\(point) \(fields[dash + 1]) \(fields[dash + 2])"
        }
    }
}

/// Loop devices whose backing file is in the data folder.
struct LoopListings {
    let directory: String

    func lines() -> [String] {
        let devices = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []
        return devices.filter { $0.hasPrefix("loop") }.compactMap { device in
            guard let backing = try? String(contentsOfFile: "/sys/block/\(device)/loop/backing_file", encoding: .utf8) else { return nil }
            let file = backing.trimmingCharacters(in: .whitespacesAndNewlines)
            return file.hasPrefix(directory + "/") ? "\(device) \(file)" : nil
        }
    }
}

/// Revision cgroups under the parent, in every v1 hierarchy or the v2 tree.
struct CgroupListings {
    let root: String
    let parent: String
    let ids: Set<String>

    func lines() -> [String] {
        let manager = FileManager.default
        var hierarchies: [(String, String)] = []
        if manager.fileExists(atPath: root + "/cgroup.controllers") {
            hierarchies = [("unified", root)]
        } else {
            for name in (try? manager.contentsOfDirectory(atPath: root)) ?? [] {
                let path = root + "/" + name
                // cpu and cpuacct are links to "cpu,cpuacct": list each hierarchy once.
                if (try? manager.destinationOfSymbolicLink(atPath: path)) != nil { continue }
                hierarchies.append((name, path))
            }
        }
        var lines: [String] = []
        for (name, path) in hierarchies {
            let folder = "\(path)/\(parent)"
            for child in (try? manager.contentsOfDirectory(atPath: folder)) ?? []
            where ContainerIDs.mentions(child, anyOf: ids) {
                var isDirectory: ObjCBool = false
                if manager.fileExists(atPath: folder + "/" + child, isDirectory: &isDirectory), isDirectory.boolValue {
                    lines.append("\(name):/\(parent)/\(child)")
                }
            }
        }
        return lines
    }
}

/// containerd shims serving the namespace: "shim <id>". A shim whose task containerd no longer
/// lists (a Tasks.Delete cut short) is only seen here; it keeps its process and its id taken.
struct ShimListings {
    let namespace: String

    func lines() -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return pids.filter { $0.allSatisfy(\.isNumber) }.compactMap { pid -> String? in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let program = arguments.first, program.hasSuffix("containerd-shim-runc-v2"),
                  let n = arguments.firstIndex(of: "-namespace"), n + 1 < arguments.count, arguments[n + 1] == namespace,
                  let i = arguments.firstIndex(of: "-id"), i + 1 < arguments.count
            else { return nil }
            return "shim \(arguments[i + 1])"
        }
    }
}

import Foundation
import Store

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What the host can give containers in all, read once at start: the totals Kubernetes' kubelet
/// reports as a node's capacity (online CPUs, physical memory, the size of the filesystem that
/// holds the ephemeral-storage images), each bounded by a cgroup limit over the hierarchy the
/// containers' cgroups (`/berth/<id>`) live in, when berthd runs inside a limited cgroup
/// namespace or an operator limited `/berth` itself.
struct HostResources: Sendable, Equatable {
    var milliCPU: Int64
    var ram: Int64
    var storage: Int64

    static func detect(dataDirectory: String, cgroupRoot: String = "/sys/fs/cgroup") -> HostResources {
        var cores = Int64(max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))) * 1000
        var ram = memoryTotal() ?? Int64(ProcessInfo.processInfo.physicalMemory)
        for folder in [cgroupRoot, cgroupRoot + "/berth"] {
            if let limit = cpuLimit(v2: folder + "/cpu.max") { cores = min(cores, limit) }
            if let limit = bytesLimit(folder + "/memory.max") { ram = min(ram, limit) }
        }
        for folder in [cgroupRoot + "/cpu", cgroupRoot + "/cpu/berth"] {
            if let limit = cpuLimit(v1Quota: folder + "/cpu.cfs_quota_us", period: folder + "/cpu.cfs_period_us") {
                cores = min(cores, limit)
            }
        }
        for folder in [cgroupRoot + "/memory", cgroupRoot + "/memory/berth"] {
            if let limit = bytesLimit(folder + "/memory.limit_in_bytes") { ram = min(ram, limit) }
        }
        var info = statvfs()
        let storage = statvfs(dataDirectory, &info) == 0 ? Int64(info.f_blocks) * Int64(info.f_frsize) : 0
        return HostResources(milliCPU: cores, ram: ram, storage: storage)
    }

    /// `MemTotal` of /proc/meminfo.
    static func memoryTotal(meminfo: String = "/proc/meminfo") -> Int64? {
        guard let text = try? String(contentsOfFile: meminfo, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
              let kibibytes = line.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap({ Int64($0) })
        else { return nil }
        return kibibytes * 1024
    }

    /// cgroup v2 `cpu.max` ("max 100000" or "QUOTA PERIOD") in thousandths of a core.
    static func cpuLimit(v2 path: String) -> Int64? {
        guard let fields = read(path)?.split(separator: " "), fields.count == 2,
              let quota = Int64(fields[0]), let period = Int64(fields[1]), quota > 0, period > 0 else { return nil }
        return quota * 1000 / period
    }

    /// cgroup v1 CFS quota and period (-1: none) in thousandths of a core.
    static func cpuLimit(v1Quota: String, period: String) -> Int64? {
        guard let quota = read(v1Quota).flatMap({ Int64($0) }), let period = read(period).flatMap({ Int64($0) }),
              quota > 0, period > 0 else { return nil }
        return quota * 1000 / period
    }

    /// `memory.max` ("max" for none) or v1 `memory.limit_in_bytes` (a page-rounded Int64.max for none).
    static func bytesLimit(_ path: String) -> Int64? {
        guard let limit = read(path).flatMap({ Int64($0) }), limit > 0, limit < Int64.max / 2 else { return nil }
        return limit
    }

    private static func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension DaemonConfiguration {
    /// The node's capacity (the host's totals, or `node.cpu`/`ram`/`storage`, minus headroom)
    /// and the quotas.
    /// Headroom that leaves nothing is an error naming the setting.
    func capacityPolicy(host: HostResources) throws(ConfigurationError) -> CapacityPolicy {
        let totals: [(ReservedResource, String, Int64, Headroom)] = [
            (.cpu, "node.reserved_cpu", nodeCPU.map(ResourceAmounts.milliCPU) ?? host.milliCPU, reservedCPU),
            (.ram, "node.reserved_ram", nodeRAM ?? host.ram, reservedRAM),
            (.ephemeralStorage, "node.reserved_storage", nodeStorage ?? host.storage, reservedStorage),
        ]
        var node = ResourceLimits()
        for (resource, key, total, headroom) in totals {
            let left = total - headroom.of(total)
            guard left > 0 else {
                throw ConfigurationError(setting: key, source: source(of: key), problem:
                    "keeps back \(ResourceAmounts.format(headroom.of(total), of: resource)) of the node's \(ResourceAmounts.format(total, of: resource)); nothing would be left for containers")
            }
            node.bounds[resource] = left
        }
        return CapacityPolicy(node: node, defaultQuota: defaultQuota, ownerQuotas: ownerQuotas)
    }
}

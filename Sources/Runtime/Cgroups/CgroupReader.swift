import Foundation

/// Which cgroup hierarchy a host runs.
public enum CgroupVersion: Sendable, Equatable {
    /// One hierarchy per controller (memory/, cpu/, pids/… under the root); a hybrid host, with
    /// the unified hierarchy at root/unified and no controllers in it, counts as v1.
    case v1
    /// The unified hierarchy at the root.
    case v2

    /// v2 when `root/cgroup.controllers` exists (the unified hierarchy is mounted there).
    public static func detect(root: String = "/sys/fs/cgroup") -> CgroupVersion {
        FileManager.default.fileExists(atPath: root + "/cgroup.controllers") ? .v2 : .v1
    }

    /// Whether runc can limit memory+swap here: on v1 only with swap accounting
    /// (memory.memsw.limit_in_bytes in the memory hierarchy's root); on v2 always (runc ignores
    /// a missing memory.swap.max when asked for no swap).
    public static func swapLimitSupported(root: String = "/sys/fs/cgroup") -> Bool {
        switch detect(root: root) {
        case .v2: return true
        case .v1: return FileManager.default.fileExists(atPath: root + "/memory/memory.memsw.limit_in_bytes")
        }
    }
}

/// A container's resource usage and limits, read from its cgroup.
public struct CgroupStats: Sendable, Equatable {
    public var memoryUsageBytes: Int64
    /// nil when unlimited.
    public var memoryLimitBytes: Int64?
    /// Processes the kernel's OOM killer killed in the cgroup.
    public var oomKillCount: Int
    public var cpuUsageNanoseconds: UInt64
    /// Microseconds per period; nil when unlimited.
    public var cpuQuota: Int64?
    public var cpuPeriod: UInt64?
    public var pidsCurrent: Int
    /// nil when unlimited.
    public var pidsLimit: Int64?
    public var frozen: Bool

    public init(memoryUsageBytes: Int64, memoryLimitBytes: Int64?, oomKillCount: Int, cpuUsageNanoseconds: UInt64,
                cpuQuota: Int64?, cpuPeriod: UInt64?, pidsCurrent: Int, pidsLimit: Int64?, frozen: Bool) {
        self.memoryUsageBytes = memoryUsageBytes
        self.memoryLimitBytes = memoryLimitBytes
        self.oomKillCount = oomKillCount
        self.cpuUsageNanoseconds = cpuUsageNanoseconds
        self.cpuQuota = cpuQuota
        self.cpuPeriod = cpuPeriod
        self.pidsCurrent = pidsCurrent
        self.pidsLimit = pidsLimit
        self.frozen = frozen
    }
}

public struct CgroupError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file that could not be read or understood.
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "cgroup file \(path): \(reason)" }
}

/// Reads a cgroup's statistics from the cgroup filesystem, v1 or v2. `cgroupsPath` is the spec's
/// cgroupfs-style path ("/berth/<id>"): under each controller's hierarchy on v1
/// (root/memory/berth/<id>/…), under the root on v2 (root/berth/<id>/…). systemd-style paths
/// ("slice:prefix:name") are not supported.
///
/// v1 files: memory.usage_in_bytes, memory.limit_in_bytes, memory.oom_control (`oom_kill`,
/// kernel 4.13 and later; without that line the count is 0: memory.failcnt counts reclaim at the
/// limit, not kills), cpuacct.usage, cpu.cfs_quota_us (-1: none), cpu.cfs_period_us,
/// pids.current, pids.max, freezer.state (FROZEN).
/// v2 files: memory.current, memory.max, memory.events (`oom_kill`), cpu.stat (`usage_usec`),
/// cpu.max ("max 100000" or "50000 100000"), pids.current, pids.max, cgroup.events (`frozen`;
/// cgroup.freeze when that is missing). "max" means unlimited (nil).
public struct CgroupReader: Sendable {
    public let root: String
    public let version: CgroupVersion

    public init(root: String = "/sys/fs/cgroup", version: CgroupVersion? = nil) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.version = version ?? CgroupVersion.detect(root: root)
    }

    public func stats(cgroupsPath: String) throws(CgroupError) -> CgroupStats {
        switch version {
        case .v1: return try statsV1(cgroupsPath)
        case .v2: return try statsV2(cgroupsPath)
        }
    }

    /// The directory of the cgroup in a v1 controller's hierarchy (`controller` nil: v2).
    public func directory(cgroupsPath: String, controller: String? = nil) -> String {
        let relative = cgroupsPath.hasPrefix("/") ? cgroupsPath : "/" + cgroupsPath
        let trimmed = relative.count > 1 && relative.hasSuffix("/") ? String(relative.dropLast()) : relative
        if let controller { return root + "/" + controller + (trimmed == "/" ? "" : trimmed) }
        return root + (trimmed == "/" ? "" : trimmed)
    }

    // MARK: - v1

    private func statsV1(_ path: String) throws(CgroupError) -> CgroupStats {
        let memory = directory(cgroupsPath: path, controller: "memory")
        let cpu = directory(cgroupsPath: path, controller: "cpu")
        let cpuacct = directory(cgroupsPath: path, controller: "cpuacct")
        let pids = directory(cgroupsPath: path, controller: "pids")
        let freezer = directory(cgroupsPath: path, controller: "freezer")

        let limit = try Self.integer(memory + "/memory.limit_in_bytes", as: Int64.self)
        let oomControl = try Self.keyedValues(memory + "/memory.oom_control")
        let quota = try Self.integer(cpu + "/cpu.cfs_quota_us", as: Int64.self)
        let freezerState = try Self.read(freezer + "/freezer.state").trimmingCharacters(in: .whitespacesAndNewlines)
        return CgroupStats(
            memoryUsageBytes: try Self.integer(memory + "/memory.usage_in_bytes", as: Int64.self),
            // "Unlimited" is LONG_MAX rounded down to a page.
            memoryLimitBytes: limit >= Int64.max - (1 << 20) ? nil : limit,
            oomKillCount: Int(oomControl["oom_kill"] ?? 0),
            cpuUsageNanoseconds: try Self.integer(cpuacct + "/cpuacct.usage", as: UInt64.self),
            cpuQuota: quota < 0 ? nil : quota,
            cpuPeriod: try Self.integer(cpu + "/cpu.cfs_period_us", as: UInt64.self),
            pidsCurrent: try Self.integer(pids + "/pids.current", as: Int.self),
            pidsLimit: try Self.limit(pids + "/pids.max"),
            frozen: freezerState == "FROZEN")
    }

    // MARK: - v2

    private func statsV2(_ path: String) throws(CgroupError) -> CgroupStats {
        let directory = directory(cgroupsPath: path)
        let events = try Self.keyedValues(directory + "/memory.events")
        let cpuStat = try Self.keyedValues(directory + "/cpu.stat")
        guard let usage = cpuStat["usage_usec"] else {
            throw CgroupError(path: directory + "/cpu.stat", reason: "no usage_usec line")
        }
        let (quota, period) = try Self.cpuMax(directory + "/cpu.max")
        let frozen: Bool
        if FileManager.default.fileExists(atPath: directory + "/cgroup.events") {
            frozen = try Self.keyedValues(directory + "/cgroup.events")["frozen"] == 1
        } else {
            frozen = try Self.integer(directory + "/cgroup.freeze", as: Int.self) == 1
        }
        return CgroupStats(
            memoryUsageBytes: try Self.integer(directory + "/memory.current", as: Int64.self),
            memoryLimitBytes: try Self.limit(directory + "/memory.max"),
            oomKillCount: Int(events["oom_kill"] ?? 0),
            cpuUsageNanoseconds: UInt64(usage) * 1000,
            cpuQuota: quota,
            cpuPeriod: period,
            pidsCurrent: try Self.integer(directory + "/pids.current", as: Int.self),
            pidsLimit: try Self.limit(directory + "/pids.max"),
            frozen: frozen)
    }

    // MARK: - Files

    static func read(_ path: String) throws(CgroupError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            throw CgroupError(path: path, reason: reason)
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func integer<T: FixedWidthInteger>(_ path: String, as type: T.Type) throws(CgroupError) -> T {
        let text = try read(path).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let value = T(text) else { throw CgroupError(path: path, reason: "\"\(text)\" is not a number") }
        return value
    }

    /// A number, or "max" for none.
    static func limit(_ path: String) throws(CgroupError) -> Int64? {
        let text = try read(path).trimmingCharacters(in: .whitespacesAndNewlines)
        if text == "max" { return nil }
        guard let value = Int64(text) else { throw CgroupError(path: path, reason: "\"\(text)\" is neither a number nor max") }
        return value
    }

    /// "key value" lines (memory.events, cpu.stat, memory.oom_control, cgroup.events); lines of
    /// another shape are skipped, so that keys a newer kernel adds do no harm.
    static func keyedValues(_ path: String) throws(CgroupError) -> [String: Int64] {
        var values: [String: Int64] = [:]
        for line in try read(path).split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: " ")
            if fields.count == 2, let value = Int64(fields[1]) {
                values[String(fields[0])] = value
            }
        }
        return values
    }

    /// cpu.max: "$QUOTA $PERIOD", the quota "max" for none.
    static func cpuMax(_ path: String) throws(CgroupError) -> (quota: Int64?, period: UInt64?) {
        let text = try read(path).trimmingCharacters(in: .whitespacesAndNewlines)
        let fields = text.split(separator: " ")
        guard fields.count == 2, let period = UInt64(fields[1]) else {
            throw CgroupError(path: path, reason: "\"\(text)\" is not \"QUOTA PERIOD\"")
        }
        if fields[0] == "max" { return (nil, period) }
        guard let quota = Int64(fields[0]) else { throw CgroupError(path: path, reason: "\"\(text)\" is not \"QUOTA PERIOD\"") }
        return (quota, period)
    }
}

import BerthModel

/// A resource a revision reserves on the node, named as in the API.
public enum ReservedResource: String, CaseIterable, Sendable, Hashable {
    case cpu, ram, ephemeralStorage, gpu
}

/// Amounts of every `ReservedResource`, in whole units: thousandths of a core for cpu (so that
/// sums are exact), bytes for ram and ephemeral storage, devices for GPUs.
public struct ResourceAmounts: Sendable, Equatable, Hashable {
    public var milliCPU: Int64 = 0
    public var ram: Int64 = 0
    public var ephemeralStorage: Int64 = 0
    public var gpu: Int64 = 0

    public init(milliCPU: Int64 = 0, ram: Int64 = 0, ephemeralStorage: Int64 = 0, gpu: Int64 = 0) {
        self.milliCPU = milliCPU
        self.ram = ram
        self.ephemeralStorage = ephemeralStorage
        self.gpu = gpu
    }

    /// What a revision reserves: one instance's request times the instances that always run
    /// (at least one). A fraction of a thousandth of a core counts as a whole one, so that many
    /// tiny containers cannot reserve nothing.
    public init(_ spec: RevisionSpec) {
        self = ResourceAmounts(instanceOf: spec).times(spec.scaling.reservedInstances)
    }

    /// What one instance of the revision asks for.
    public init(instanceOf spec: RevisionSpec) {
        self.init(milliCPU: Self.milliCPU(spec.cpu), ram: spec.memory.bytes,
                  ephemeralStorage: spec.ephemeralStorage.bytes, gpu: Int64(spec.gpu))
    }

    public func times(_ count: Int) -> ResourceAmounts {
        var result = self
        for resource in ReservedResource.allCases {
            result[resource] = self[resource].multipliedReportingOverflow(by: Int64(count)).partialValue
        }
        return result
    }

    /// Cores in thousandths, rounded up (a hair of slack keeps 0.1 × 1000 from becoming 101).
    public static func milliCPU(_ cores: Double) -> Int64 {
        guard cores.isFinite, cores > 0 else { return 0 }
        return Int64((cores * 1000 - 1e-6).rounded(.up))
    }

    public subscript(resource: ReservedResource) -> Int64 {
        get {
            switch resource {
            case .cpu: milliCPU
            case .ram: ram
            case .ephemeralStorage: ephemeralStorage
            case .gpu: gpu
            }
        }
        set {
            switch resource {
            case .cpu: milliCPU = newValue
            case .ram: ram = newValue
            case .ephemeralStorage: ephemeralStorage = newValue
            case .gpu: gpu = newValue
            }
        }
    }

    /// The larger of the two, resource by resource.
    public func maximum(_ other: ResourceAmounts) -> ResourceAmounts {
        var result = self
        for resource in ReservedResource.allCases { result[resource] = max(self[resource], other[resource]) }
        return result
    }

    public static func + (a: ResourceAmounts, b: ResourceAmounts) -> ResourceAmounts {
        var result = a
        for resource in ReservedResource.allCases { result[resource] = a[resource].addingReportingOverflow(b[resource]).partialValue }
        return result
    }

    /// `2`, `1.5` (cores); `512Mi`, `3.5Gi`, `1000000` (bytes); `2` (GPUs).
    public static func format(_ amount: Int64, of resource: ReservedResource) -> String {
        switch resource {
        case .cpu:
            let whole = amount / 1000, fraction = amount % 1000
            guard fraction != 0 else { return String(whole) }
            var digits = String(fraction + 1000).dropFirst()
            while digits.last == "0" { digits.removeLast() }
            return "\(amount < 0 && whole == 0 ? "-" : "")\(whole).\(digits)"
        case .ram, .ephemeralStorage:
            let exact = Quantity(bytes: amount).text
            guard exact == String(amount), amount >= 1 << 20 else { return exact }
            // Not a whole number of any binary unit: two decimals of the largest one that fits.
            for (suffix, shift) in [("Ti", 40), ("Gi", 30), ("Mi", 20)] where amount >= Int64(1) << shift {
                let value = Double(amount) / Double(Int64(1) << shift)
                return "\((value * 100).rounded(.down) / 100)\(suffix)"
            }
            return exact
        case .gpu:
            return String(amount)
        }
    }
}

/// Upper bounds on what may be reserved; a resource without a bound is unlimited.
public struct ResourceLimits: Sendable, Equatable {
    public var bounds: [ReservedResource: Int64]

    public init(_ bounds: [ReservedResource: Int64] = [:]) {
        self.bounds = bounds
    }

    /// Cores, bytes, bytes, devices; nil leaves that resource unlimited.
    public init(cpu: Double? = nil, ram: Int64? = nil, ephemeralStorage: Int64? = nil, gpu: Int? = nil) {
        var bounds: [ReservedResource: Int64] = [:]
        bounds[.cpu] = cpu.map { cores in cores.isFinite && cores > 0 ? Int64((cores * 1000).rounded(.down)) : 0 }
        bounds[.ram] = ram
        bounds[.ephemeralStorage] = ephemeralStorage
        bounds[.gpu] = gpu.map(Int64.init)
        self.init(bounds)
    }

    public static let unlimited = ResourceLimits()

    public var isUnlimited: Bool { bounds.isEmpty }

    /// These bounds, with `other`'s replacing them where it has one.
    public func overridden(by other: ResourceLimits?) -> ResourceLimits {
        ResourceLimits(bounds.merging(other?.bounds ?? [:]) { $1 })
    }
}

/// What the store checks every create and update against, inside the transaction that records
/// the revision: the node's capacity (its totals minus the operator's headroom) and per-owner
/// quotas. GPUs on the node are bounded by their devices (`gpu_allocation`), not here.
public struct CapacityPolicy: Sendable, Equatable {
    public var node: ResourceLimits
    /// Applies to every owner without an entry of their own.
    public var defaultQuota: ResourceLimits
    /// By owner (the token's `sub`); each bound named replaces the default's for that owner.
    public var ownerQuotas: [String: ResourceLimits]

    public init(node: ResourceLimits = .unlimited, defaultQuota: ResourceLimits = .unlimited,
                ownerQuotas: [String: ResourceLimits] = [:]) {
        self.node = node
        self.defaultQuota = defaultQuota
        self.ownerQuotas = ownerQuotas
    }

    public static let unlimited = CapacityPolicy()

    public func quota(of owner: String) -> ResourceLimits {
        defaultQuota.overridden(by: ownerQuotas[owner])
    }
}

/// Why a create or update was refused: what it asked for and what was left, per resource short.
public struct CapacityShortfall: Sendable, Equatable, CustomStringConvertible {
    public enum Scope: Sendable, Equatable {
        /// The node's capacity (its totals minus headroom).
        case node
        /// The owner's quota.
        case owner(String)
    }

    public struct Item: Sendable, Equatable {
        public var resource: ReservedResource
        /// What the container would reserve after the change.
        public var asked: Int64
        /// The limit minus what everything else reserves (never below zero).
        public var available: Int64
        public var limit: Int64

        public init(resource: ReservedResource, asked: Int64, available: Int64, limit: Int64) {
            self.resource = resource
            self.asked = asked
            self.available = available
            self.limit = limit
        }
    }

    public var scope: Scope
    public var items: [Item]

    public init(scope: Scope, items: [Item]) {
        self.scope = scope
        self.items = items
    }

    /// `cpu: asked 4, 1.5 of 2 available; ram: asked 8Gi, 3Gi of 16Gi available`.
    public var summary: String {
        items.map { item in
            let f = { ResourceAmounts.format($0, of: item.resource) }
            return "\(item.resource.rawValue): asked \(f(item.asked)), \(f(item.available)) of \(f(item.limit)) available"
        }.joined(separator: "; ")
    }

    public var description: String {
        switch scope {
        case .node: "not enough capacity on this node: \(summary)"
        case .owner(let owner): "over the quota of \(owner): \(summary)"
        }
    }
}

import BerthModel
import Foundation
import Store

/// What the operator keeps back from containers' reservations for the host, berthd and
/// containerd: an amount (thousandths of a core, or bytes) or a percentage of the host's total.
public enum Headroom: Sendable, Equatable {
    case amount(Int64)
    case percent(Double)

    /// The amount kept back of `total`.
    public func of(_ total: Int64) -> Int64 {
        switch self {
        case .amount(let amount): amount
        case .percent(let percent): Int64((Double(total) * percent / 100).rounded(.up))
        }
    }
}

// Parsers of the [node] and [quota] settings. A quota is written as a TOML table
// `{ cpu = 4, ram = "8Gi", storage = "20Gi", gpu = 1 }`, or in the environment and in flags as
// `cpu=4,ram=8Gi,storage=20Gi,gpu=1`; owners' quotas as a table of such tables by owner, or as
// `OWNER:cpu=4,ram=8Gi` items (repeated flags; `;` between them in the environment).
extension ValueParser {
    static let quotaKeys = "cpu (cores), ram, storage (ephemeral storage; sizes such as \"8Gi\") and gpu (devices)"

    /// Positive cores, as a number or as text.
    static func cores(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> Double {
        let cores: Double?
        switch value {
        case .integer(let number): cores = Double(number)
        case .float(let number): cores = number
        case .string(let text): cores = Double(text.trimmingCharacters(in: .whitespaces))
        default: throw context.typeError(expected: "a number of cores", found: value)
        }
        guard let cores, cores.isFinite, cores >= 0, cores <= 1_000_000 else {
            throw context.error("\(describe(value)) is not a number of cores; expected a number such as 2 or 0.5")
        }
        return cores
    }

    static func optionalCores(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> Double? {
        if case .string(let text) = value, text.isEmpty || text == "auto" { return nil }
        let cores = try cores(value, context)
        guard cores > 0 else { throw context.error("must be more than 0 cores (leave it unset to use the host's)") }
        return cores
    }

    /// Bytes: a quantity (`512Mi`, `8Gi`, `1.5G`) or a TOML integer.
    static func bytes(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> Int64 {
        switch value {
        case .integer(let bytes) where bytes >= 0: return Int64(bytes)
        case .string(let text):
            do {
                return try Quantity(parsing: text).bytes
            } catch {
                throw context.error("\(quoted(text)) is not a size; expected a quantity such as \"512Mi\" or \"8Gi\"")
            }
        default: throw context.typeError(expected: "a size (a string such as \"8Gi\" or a whole number of bytes)", found: value)
        }
    }

    /// A positive size; empty or `auto` for the host's.
    static func optionalBytes(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> Int64? {
        if case .string(let text) = value, text.isEmpty || text == "auto" { return nil }
        let bytes = try bytes(value, context)
        guard bytes > 0 else { throw context.error("must be more than 0 (leave it unset to use the host's)") }
        return bytes
    }

    /// `"10%"` of the host's total, else `cores` (the CPU headroom) or a size.
    static func headroom(cpu: Bool) -> (RawValue, SettingContext) throws(ConfigurationError) -> Headroom {
        { (value: RawValue, context: SettingContext) throws(ConfigurationError) -> Headroom in
            if case .string(let text) = value, text.hasSuffix("%") {
                guard let percent = Double(text.dropLast()), percent >= 0, percent < 100 else {
                    throw context.error("\(quoted(text)) is not a percentage from 0% to 99%")
                }
                return .percent(percent)
            }
            if cpu { return .amount(ResourceAmounts.milliCPU(try cores(value, context))) }
            return .amount(try bytes(value, context))
        }
    }

    /// One quota: a table, or `cpu=4,ram=8Gi` text.
    static func quota(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> ResourceLimits {
        var entries: [(key: String, value: RawValue)] = []
        switch value {
        case .table(let table): entries = table
        case .string(let text):
            for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw context.error("\(quoted(item)) is not RESOURCE=AMOUNT; the resources are \(quotaKeys)") }
                entries.append((parts[0], .string(parts[1])))
            }
        default: throw context.typeError(expected: "a table such as { cpu = 4, ram = \"8Gi\" }", found: value)
        }
        var limits = ResourceLimits()
        for (key, amount) in entries {
            var inner = context
            inner.key = "\(context.key).\(key)"
            switch key {
            case "cpu": limits.bounds[.cpu] = ResourceAmounts.milliCPU(try cores(amount, inner))
            case "ram": limits.bounds[.ram] = try bytes(amount, inner)
            case "storage": limits.bounds[.ephemeralStorage] = try bytes(amount, inner)
            case "gpu":
                let count: Int?
                switch amount {
                case .integer(let number): count = number
                case .string(let text): count = Int(text)
                default: count = nil
                }
                guard let count, count >= 0 else { throw inner.error("\(describe(amount)) is not a whole number of GPUs") }
                limits.bounds[.gpu] = Int64(count)
            default: throw context.error("unknown resource \(quoted(key)); a quota names \(quotaKeys)")
            }
        }
        return limits
    }

    /// Owners' quotas: a table of quotas by owner, or `OWNER:cpu=4,ram=8Gi` items.
    static func ownerQuotas(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> [String: ResourceLimits] {
        var items: [(owner: String, quota: RawValue)] = []
        switch value {
        case .table(let table): items = table.map { ($0.key, $0.value) }
        case .string(let text):
            items = try ownerItems(text.split(separator: ";").map(String.init), context)
        case .array:
            items = try ownerItems(try stringList(value, context), context)
        default: throw context.typeError(expected: "a table of owner = { cpu = …, ram = … }", found: value)
        }
        var quotas: [String: ResourceLimits] = [:]
        for (owner, quotaValue) in items {
            var inner = context
            inner.key = "\(context.key).\(quoted(owner))"
            quotas[owner] = try quota(quotaValue, inner)
        }
        return quotas
    }

    /// `OWNER:cpu=4,ram=8Gi`, split at the last `:` (an owner may be a URL; a quota has none).
    private static func ownerItems(_ texts: [String], _ context: SettingContext) throws(ConfigurationError) -> [(owner: String, quota: RawValue)] {
        var items: [(owner: String, quota: RawValue)] = []
        for text in texts.map({ $0.trimmingCharacters(in: .whitespaces) }) where !text.isEmpty {
            guard let colon = text.lastIndex(of: ":"), colon != text.startIndex else {
                throw context.error("\(quoted(text)) is not OWNER:RESOURCE=AMOUNT,… (e.g. alice:cpu=4,ram=8Gi)")
            }
            items.append((String(text[..<colon]), .string(String(text[text.index(after: colon)...]))))
        }
        return items
    }

    private static func describe(_ value: RawValue) -> String {
        switch value {
        case .integer(let number): String(number)
        case .float(let number): String(number)
        case .string(let text): quoted(text)
        default: value.typeName
        }
    }
}

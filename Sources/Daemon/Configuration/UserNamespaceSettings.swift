import Runtime

/// `runtime.user_namespaces`: whether containers run in user namespaces, their root mapped
/// onto the unprivileged range `runtime.userns_base` … + `runtime.userns_size`.
public enum UserNamespaceMode: String, Sendable, Equatable {
    /// On when the kernel supports user namespaces (`UserNamespaceMapping.hostSupportsUserNamespaces`).
    case auto
    /// Always on: berthd refuses to start on a kernel without them.
    case on
    /// Containers share the host's user namespace: container root is host root.
    case off
}

extension ValueParser {
    /// `true`/`false` (TOML booleans, or text from the environment and flags) or `"auto"`.
    static func userNamespaces(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> UserNamespaceMode {
        if case .string(let text) = value, text.lowercased() == "auto" { return .auto }
        do {
            return try boolean(value, context) ? .on : .off
        } catch {
            throw context.error("expected true, false or \"auto\"")
        }
    }

    /// A host id: a TOML integer or decimal text, 0…4294967295.
    static func hostID(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> UInt32 {
        let number: Int?
        switch value {
        case .integer(let integer): number = integer
        case .string(let text): number = Int(text)
        default: throw context.typeError(expected: "an integer", found: value)
        }
        guard let number, let id = UInt32(exactly: number) else { throw context.error("expected an id from 0 to 4294967295") }
        return id
    }
}

extension DaemonConfiguration {
    /// The range new revisions' user namespaces map onto; nil when they run without one. Throws
    /// for a range that is unsafe (overlapping the host's own users) or `on` without kernel support.
    public func userNamespaceMapping(hostSupports: Bool = UserNamespaceMapping.hostSupportsUserNamespaces())
        throws(ConfigurationError) -> UserNamespaceMapping? {
        let mapping: UserNamespaceMapping
        do {
            mapping = try UserNamespaceMapping(base: usernsBase, size: usernsSize)
        } catch {
            // Name the key the operator has to change: the size for a short range, the base for
            // one over the host's ids, and for a range past the last id whichever of the two was set.
            let key: String
            switch error {
            case .tooSmall: key = "runtime.userns_size"
            case .overlapsHostUsers: key = "runtime.userns_base"
            case .pastLastID:
                key = source(of: "runtime.userns_size") != nil && source(of: "runtime.userns_base") == nil
                    ? "runtime.userns_size" : "runtime.userns_base"
            }
            throw ConfigurationError(setting: key, source: source(of: key), problem: error.description)
        }
        switch userNamespaces {
        case .off: return nil
        case .auto: return hostSupports ? mapping : nil
        case .on:
            guard hostSupports else {
                throw ConfigurationError(setting: "runtime.user_namespaces", source: source(of: "runtime.user_namespaces"),
                                         problem: "this kernel has no user namespaces (or user.max_user_namespaces is 0); set false or \"auto\"")
            }
            return mapping
        }
    }
}

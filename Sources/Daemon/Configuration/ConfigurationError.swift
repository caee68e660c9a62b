/// A configuration setting that cannot be used, as one line: which setting, from which source (the
/// file and its key, the environment variable or the flag), what is wrong and what is accepted.
///
///     /etc/berth/berthd.toml: api.listen: "8080" has no port; expected HOST:PORT, [IPV6]:PORT or :PORT
///     environment variable BERTH_READINESS_TIMEOUT: "2 minutes" is not a duration; expected …
///     --cni-subnet: "10.89.0.1/16" has host bits set; did you mean 10.89.0.0/16?
public struct ConfigurationError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Where a value came from.
    public enum Source: Sendable, Equatable, CustomStringConvertible {
        /// A TOML file (its path as named).
        case file(String)
        /// An environment variable (its name).
        case environment(String)
        /// A `berthd serve` flag (as typed: `--api-listen`).
        case flag(String)

        public var description: String {
            switch self {
            case .file(let path): path
            case .environment(let name): "environment variable \(name)"
            case .flag(let name): name
            }
        }
    }

    /// The setting's TOML key (`api.listen`), or a group (`auth`) when a rule spans settings; empty
    /// when the error concerns a whole file (unreadable, bad TOML syntax).
    public var setting: String
    /// Where the bad value came from; nil for a built-in default or a rule over several settings.
    public var source: Source?
    /// What is wrong and what is accepted.
    public var problem: String

    public init(setting: String, source: Source?, problem: String) {
        self.setting = setting
        self.source = source
        self.problem = problem
    }

    public var description: String {
        let problem = Self.oneLine(problem)
        switch source {
        case .file(let path)?:
            return setting.isEmpty ? "\(path): \(problem)" : "\(path): \(setting): \(problem)"
        case .environment(let name)?:
            return "environment variable \(name): \(problem)"
        case .flag(let name)?:
            return "\(name): \(problem)"
        case nil:
            return setting.isEmpty ? problem : "\(setting): \(problem)"
        }
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

/// A value quoted for an error message, with control characters escaped so the message stays one line.
func quoted(_ value: String) -> String {
    value.debugDescription
}

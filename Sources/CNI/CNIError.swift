#if canImport(Glibc)
import Glibc
#endif

/// A plugin invocation that failed: from the error JSON the plugin wrote, or from its exit
/// status and stderr when it wrote none.
public struct CNIError: Error, CustomStringConvertible, Sendable {
    /// The spec's error code (1–99 well-known, 100+ plugin-specific); nil when the plugin wrote
    /// no error JSON (it crashed, timed out, or could not be started).
    public var code: Int?
    public var message: String
    public var details: String?
    /// The plugin type, e.g. "bridge".
    public var plugin: String
    /// "ADD", "DEL", "CHECK" or "VERSION".
    public var command: String
    public var containerID: String?

    public init(code: Int?, message: String, details: String? = nil, plugin: String, command: String, containerID: String? = nil) {
        self.code = code
        self.message = message
        self.details = details
        self.plugin = plugin
        self.command = command
        self.containerID = containerID
    }

    /// The spec's name for a well-known code.
    public static func meaning(ofCode code: Int) -> String? {
        switch code {
        case 1: "incompatible CNI version"
        case 2: "unsupported field in network configuration"
        case 3: "container unknown or does not exist"
        case 4: "invalid necessary environment variables"
        case 5: "I/O failure"
        case 6: "failed to decode content"
        case 7: "invalid network config"
        case 11: "try again later"
        default: nil
        }
    }

    public var description: String {
        var text = "CNI \(plugin) \(command)"
        if let containerID { text += " for container \(containerID)" }
        text += " failed"
        if let code {
            text += " (code \(code)" + (Self.meaning(ofCode: code).map { ": \($0)" } ?? "") + ")"
        }
        text += ": \(message)"
        if let details, !details.isEmpty, details != message { text += " (\(details))" }
        return text
    }
}

/// A configuration Berth cannot run with; raised before any plugin runs.
public enum CNIConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    case invalidSubnet(String, reason: String)
    case invalidValue(field: String, value: String, reason: String)
    case unsupportedVersion(String, supported: [String])
    /// Plugins (by type) found in none of the directories searched.
    case pluginsNotFound([String], searched: [String])

    public var description: String {
        switch self {
        case .invalidSubnet(let subnet, let reason):
            "invalid CNI subnet \"\(subnet)\": \(reason)"
        case .invalidValue(let field, let value, let reason):
            "invalid CNI \(field) \"\(value)\": \(reason)"
        case .unsupportedVersion(let version, let supported):
            "unsupported cniVersion \"\(version)\" (supported: \(supported.joined(separator: ", ")))"
        case .pluginsNotFound(let plugins, let searched):
            "CNI plugin\(plugins.count == 1 ? "" : "s") \(plugins.joined(separator: ", ")) not found in "
                + (searched.isEmpty ? "(no plugin directories configured)" : searched.joined(separator: ", "))
                + "; install the standard CNI plugins (Debian: containernetworking-plugins) or set the plugin directories"
        }
    }
}

/// A failure of Berth's own part of attaching: namespaces, the stored results, bad input.
public enum CNINetworkError: Error, CustomStringConvertible, Sendable {
    case invalidContainerID(String)
    /// A system call on a network namespace failed.
    case namespace(operation: String, path: String, errno: Int32)
    /// CHECK needs the result ADD returned; there is none for this container.
    case notAttached(containerID: String)
    case namespaceMissing(containerID: String, path: String)
    /// The plugins' result has no IPv4 address on the container's interface, or is not JSON.
    case unexpectedResult(containerID: String, reason: String)
    case storage(path: String, reason: String)
    /// A container's interface could not be isolated (bridge port isolation, IPv6 off).
    case isolation(interface: String, reason: String)

    public var description: String {
        switch self {
        case .invalidContainerID(let id):
            "invalid container id \"\(id)\": use 1 to 200 letters, digits, '_', '.' or '-', starting with a letter or digit"
        case .namespace(let operation, let path, let code):
            "network namespace \(path): \(operation) failed: \(String(cString: strerror(code)))"
        case .notAttached(let id):
            "container \(id) has no recorded network attachment"
        case .namespaceMissing(let id, let path):
            "the network namespace of container \(id) (\(path)) does not exist"
        case .unexpectedResult(let id, let reason):
            "unexpected CNI result for container \(id): \(reason)"
        case .storage(let path, let reason):
            "CNI result record \(path): \(reason)"
        case .isolation(let interface, let reason):
            "cannot isolate container interface \(interface): \(reason)"
        }
    }
}

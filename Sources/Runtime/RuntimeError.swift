/// Runtime failures that are not containerd's, the registry's or CNI's own.
public enum RuntimeError: Error, Equatable, Sendable, CustomStringConvertible {
    case storage(String)
    case unknownRevision(String)
    case invalidImage(String)
    case timeout(String)
    /// The revision's devices (GPUs) cannot be given to it.
    case noDevices(String)

    public var description: String {
        switch self {
        case .storage(let message): return "ephemeral storage: \(message)"
        case .unknownRevision(let id): return "no revision \(id) on this node"
        case .invalidImage(let message): return "image cannot run: \(message)"
        case .timeout(let message), .noDevices(let message): return message
        }
    }
}

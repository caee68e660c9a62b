/// Why a GPU request, discovery or injection failed; each description is one line a person can
/// act on.
public enum GPUError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer free GPUs than asked for; the message says what is free, per model.
    case insufficient(String)
    /// A model the node does not have, and the ones it has.
    case unknownModel(String, available: [String])
    case invalidRequest(String)
    /// A CDI spec file that cannot be read, decoded or used: "<file>: <what is wrong>".
    case invalidCDISpec(String)
    /// A device that is not in the inventory the injection was asked to use.
    case unknownDevice(String)
    /// A device node the spec or driver names that is not on the host and has no numbers given.
    case missingDeviceNode(String)

    public var description: String {
        switch self {
        case .insufficient(let message), .invalidRequest(let message), .missingDeviceNode(let message):
            message
        case .unknownModel(let model, let available):
            available.isEmpty
                ? "no GPU model \"\(model)\": this node has no GPUs"
                : "no GPU model \"\(model)\" on this node; it has \(available.map { "\"\($0)\"" }.joined(separator: ", "))"
        case .invalidCDISpec(let message):
            "invalid CDI spec \(message)"
        case .unknownDevice(let id):
            "GPU \(id) is not in this node's inventory"
        }
    }
}

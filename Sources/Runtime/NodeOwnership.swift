/// Which of Berth's objects in a containerd namespace belong to this node: those labelled
/// `berth.node=<identity>`, plus, for a database upgraded from before identities existed, the
/// ones with no `berth.node` label at all. Two berthds sharing a namespace (a second one started
/// on an empty data folder) therefore never list, adopt or remove each other's objects.
public struct NodeOwnership: Sendable, Equatable {
    /// The `berth.node` label value; nil labels nothing (runtimes made by tests, and `unlabelled`).
    public var identity: String?
    /// Objects without a `berth.node` label are this node's too.
    public var adoptsUnlabelled: Bool

    public init(identity: String?, adoptsUnlabelled: Bool) {
        self.identity = identity
        self.adoptsUnlabelled = adoptsUnlabelled
    }

    /// Berth before node identities: labels nothing, owns every unlabelled object. The default
    /// of `RuntimeConfiguration`, so a runtime built without a node behaves as it always did.
    public static let unlabelled = NodeOwnership(identity: nil, adoptsUnlabelled: true)

    /// The labels to add to everything this node makes.
    public var labels: [String: String] {
        identity.map { [RuntimeLabel.node: $0] } ?? [:]
    }

    /// Whether an object with these labels is this node's.
    public func owns(_ labels: [String: String]) -> Bool {
        guard let label = labels[RuntimeLabel.node] else { return adoptsUnlabelled }
        return label == identity
    }
}

import BerthModel
import Foundation

/// One revision of a Berth container, as the runtime runs it. Each revision is its own
/// containerd container, so that two revisions can run side by side during a rollout.
public struct RevisionDeployment: Sendable, Hashable {
    public var containerID: String
    /// The container's name: its hostname, and its label in logs.
    public var name: String
    public var revision: Int
    public var spec: RevisionSpec
    /// The GPUs the store allocated to this revision (device ids, sorted), `spec.gpu` of them:
    /// decided by whoever builds the deployment from the store (the reconciler), so that the
    /// runtime only maps them to spec edits and never reads the store mid-launch.
    public var gpuDevices: [String]

    public init(containerID: String, name: String, revision: Int, spec: RevisionSpec, gpuDevices: [String] = []) {
        self.containerID = containerID
        self.name = name
        self.revision = revision
        self.spec = spec
        self.gpuDevices = gpuDevices
    }

    /// The containerd container id.
    public var runtimeID: String { Self.runtimeID(containerID: containerID, revision: revision) }

    public static func runtimeID(containerID: String, revision: Int) -> String {
        "\(containerID)-r\(revision)"
    }

    /// The container id and revision a runtime id names.
    public static func parse(_ runtimeID: String) -> (containerID: String, revision: Int)? {
        guard let marker = runtimeID.range(of: "-r", options: .backwards),
              let revision = Int(runtimeID[marker.upperBound...]) else { return nil }
        return (String(runtimeID[..<marker.lowerBound]), revision)
    }
}

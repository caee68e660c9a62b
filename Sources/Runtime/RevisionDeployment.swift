import BerthModel
import Foundation

/// One instance of one revision of a Berth container, as the runtime runs it. Each instance of
/// each revision is its own containerd container (own task, network namespace, address and
/// ephemeral storage), so that two revisions can run side by side during a rollout and a
/// revision can run several instances under load.
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
    /// 0 for the first instance, which scales to zero and wakes; 1, 2… for those the autoscaler adds.
    public var instance: Int
    /// The spec's volumes with the ids of the volumes their names stood for when the deployment
    /// was made, in the spec's order.
    public var volumes: [DeployedVolume]
    /// The spec's secrets by name, still sealed: the runtime opens them only to start an
    /// instance, so a deployment in a log or an error shows no value.
    public var secrets: [String: SealedSecret]

    public init(containerID: String, name: String, revision: Int, spec: RevisionSpec, gpuDevices: [String] = [],
                instance: Int = 0, volumes: [DeployedVolume] = [], secrets: [String: SealedSecret] = [:]) {
        self.containerID = containerID
        self.name = name
        self.revision = revision
        self.spec = spec
        self.gpuDevices = gpuDevices
        self.instance = instance
        self.volumes = volumes
        self.secrets = secrets
    }

    /// The same revision's instance `index`, with its own GPUs: the revision's (the first
    /// instance's) are never shared.
    public func instance(_ index: Int, gpuDevices devices: [String]? = nil) -> RevisionDeployment {
        var copy = self
        copy.instance = index
        if index != instance { copy.gpuDevices = devices ?? [] }
        return copy
    }

    /// The containerd container id.
    public var runtimeID: String { Self.runtimeID(containerID: containerID, revision: revision, instance: instance) }

    /// `<container id>-r<revision>` for the first instance (the id revisions had before there
    /// were instances, so that a berthd upgraded in place adopts what runs), `…-i<n>` after it.
    public static func runtimeID(containerID: String, revision: Int, instance: Int = 0) -> String {
        instance == 0 ? "\(containerID)-r\(revision)" : "\(containerID)-r\(revision)-i\(instance)"
    }

    /// The container id and revision a runtime id names.
    public static func parse(_ runtimeID: String) -> (containerID: String, revision: Int)? {
        parseInstance(runtimeID).map { ($0.containerID, $0.revision) }
    }

    /// The container id, revision and instance a runtime id names.
    /// On the UTF-8 bytes: the reconciler and the traffic controller parse ids all the time.
    public static func parseInstance(_ runtimeID: String) -> (containerID: String, revision: Int, instance: Int)? {
        var id = runtimeID
        return id.withUTF8 { bytes in parseInstance(bytes, runtimeID) }
    }

    private static func parseInstance(_ bytes: UnsafeBufferPointer<UInt8>, _ runtimeID: String)
        -> (containerID: String, revision: Int, instance: Int)? {
        // The number after the last `-<marker>` at or before `end`, and where the marker starts.
        func suffixNumber(_ marker: UInt8, before end: Int) -> (value: Int, start: Int)? {
            var index = end
            while index > 0, bytes[index - 1] >= UInt8(ascii: "0"), bytes[index - 1] <= UInt8(ascii: "9") { index -= 1 }
            guard index < end, end - index <= 9, index >= 2, bytes[index - 1] == marker, bytes[index - 2] == UInt8(ascii: "-")
            else { return nil }
            var value = 0
            for digit in bytes[index..<end] { value = value * 10 + Int(digit - UInt8(ascii: "0")) }
            return (value, index - 2)
        }
        var end = bytes.count
        var instance = 0
        if let found = suffixNumber(UInt8(ascii: "i"), before: end), found.value > 0 {
            instance = found.value
            end = found.start
        }
        guard let revision = suffixNumber(UInt8(ascii: "r"), before: end), revision.start > 0 else { return nil }
        let containerID = String(decoding: UnsafeBufferPointer(rebasing: bytes[..<revision.start]), as: UTF8.self)
        // Only the spelling `runtimeID` makes (no "+1", no "-i0", no leading zeros).
        guard Self.runtimeID(containerID: containerID, revision: revision.value, instance: instance) == runtimeID else { return nil }
        return (containerID, revision.value, instance)
    }
}

/// A volume mount as the runtime carries it out: the volume's id (its folder) and where it goes.
public struct DeployedVolume: Sendable, Hashable {
    public var id: String
    public var mountPath: String
    public var readOnly: Bool

    public init(id: String, mountPath: String, readOnly: Bool) {
        self.id = id
        self.mountPath = mountPath
        self.readOnly = readOnly
    }
}

/// A secret's value sealed with the node's key, with the owner and name it is bound to.
public struct SealedSecret: Sendable, Hashable, CustomStringConvertible {
    public var owner: String
    public var name: String
    public var sealed: [UInt8]

    public init(owner: String, name: String, sealed: [UInt8]) {
        self.owner = owner
        self.name = name
        self.sealed = sealed
    }

    /// Never the bytes, not even sealed.
    public var description: String { "secret \"\(name)\"" }
}

import BerthModel
import Foundation

/// What the runtime last reported about a container.
public enum ContainerPhase: String, Codable, Sendable, CaseIterable {
    case pending, pulling, starting, running, idle, failed, deleting
}

public enum RevisionPhase: String, Codable, Sendable, CaseIterable {
    /// Recorded and being rolled out; not serving yet.
    case pending
    /// Serving.
    case active
    /// Replaced by a newer revision (or superseded before it ever served).
    case retired
    /// Its rollout failed; `message` says why.
    case failed
}

/// A container as recorded: its identity, owner, which revision serves and its last known status.
///
/// Dates are kept to the millisecond, so a value returned by a write equals the one read back.
public struct StoredContainer: Sendable, Equatable, Codable {
    /// A lowercase UUID chosen by the store on create.
    public var id: String
    /// Unique on the node (a DNS label, validated by the API).
    public var name: String
    /// The token's `sub`.
    public var owner: String
    /// The serving revision, or the first one while it is still pending.
    public var revision: Int
    /// The newest revision recorded; equals `revision` unless a rollout is under way or failed.
    public var latestRevision: Int
    public var phase: ContainerPhase
    public var statusMessage: String?
    /// Keep one instance warm instead of scaling to zero.
    public var keepWarm: Bool
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: String, name: String, owner: String, revision: Int, latestRevision: Int,
                phase: ContainerPhase, statusMessage: String? = nil, keepWarm: Bool = false,
                createdAt: Date, updatedAt: Date) {
        self.id = id
        self.name = name
        self.owner = owner
        self.revision = revision
        self.latestRevision = latestRevision
        self.phase = phase
        self.statusMessage = statusMessage
        self.keepWarm = keepWarm
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// One immutable revision of a container: the spec it runs and how its rollout went.
public struct StoredRevision: Sendable, Equatable, Codable {
    public var containerID: String
    /// 1, 2, 3… per container.
    public var number: Int
    public var spec: RevisionSpec
    /// Set once the image is pulled.
    public var imageDigest: String?
    public var phase: RevisionPhase
    /// Why it failed.
    public var message: String?
    public var createdAt: Date

    public init(containerID: String, number: Int, spec: RevisionSpec, imageDigest: String? = nil,
                phase: RevisionPhase, message: String? = nil, createdAt: Date) {
        self.containerID = containerID
        self.number = number
        self.spec = spec
        self.imageDigest = imageDigest
        self.phase = phase
        self.message = message
        self.createdAt = createdAt
    }
}

/// One GPU device held by one instance of one revision of a container; a device is held by at
/// most one. The first instance's (0) are the revision's, allocated when it is recorded; the
/// others' when the reconciler starts those instances.
public struct GPUAllocation: Sendable, Equatable, Codable {
    public var deviceID: String
    public var containerID: String
    public var revision: Int
    public var instance: Int

    public init(deviceID: String, containerID: String, revision: Int, instance: Int = 0) {
        self.deviceID = deviceID
        self.containerID = containerID
        self.revision = revision
        self.instance = instance
    }
}

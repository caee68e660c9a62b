import BerthModel
import Foundation
import Store

/// A container as the API returns it (the contract's Container).
struct ContainerView: Encodable, Equatable, Sendable {
    var id: String
    var name: String
    var owner: String
    var image: String
    var cpu: Double
    var ram: String
    var gpu: Int
    var gpuModel: String?
    var ephemeralStorage: String
    var port: String
    /// The HTTP the container serves on `port`; always present.
    var `protocol`: ServingProtocol
    var env: EnvironmentView
    var volumes: [VolumeMount]
    var secretMounts: [SecretMount]
    var keepWarm: Bool
    var concurrency: Int
    var minInstances: Int
    var maxInstances: Int
    var timeoutSeconds: Int
    var instances: InstanceCounts
    var revision: Int
    /// The newest revision recorded: above `revision` while a rollout is under way or failed.
    var latestRevision: Int
    var status: String
    var statusMessage: String?
    /// While a revision's image is being pulled.
    var pull: PullReport?
    var url: String
    var createdAt: Date
    var updatedAt: Date

    init(_ container: StoredContainer, _ revision: StoredRevision, instances: ContainerInstances,
         configuration: APIConfiguration) {
        id = container.id
        name = container.name
        owner = container.owner
        image = revision.spec.image
        cpu = revision.spec.cpu
        ram = revision.spec.memory.text
        gpu = revision.spec.gpu
        gpuModel = revision.spec.gpuModel
        ephemeralStorage = revision.spec.ephemeralStorage.text
        port = String(revision.spec.port)
        `protocol` = revision.spec.servingProtocol
        env = EnvironmentView(revision.spec)
        volumes = revision.spec.volumes
        secretMounts = revision.spec.secretMounts
        let scaling = revision.spec.scaling
        keepWarm = scaling.minInstances > 0
        concurrency = scaling.concurrency
        minInstances = scaling.minInstances
        maxInstances = scaling.maxInstances
        timeoutSeconds = scaling.timeoutSeconds
        self.instances = instances.counts(serving: container.revision)
        self.revision = revision.number
        latestRevision = container.latestRevision
        status = container.phase.rawValue
        statusMessage = container.statusMessage
        url = configuration.url(for: container.name)
        createdAt = container.createdAt
        updatedAt = container.updatedAt
    }
}

/// A revision as the API returns it (the contract's Revision).
struct RevisionView: Encodable, Sendable {
    var revision: Int
    var image: String
    var imageDigest: String?
    var cpu: Double
    var ram: String
    var gpu: Int
    var gpuModel: String?
    var ephemeralStorage: String
    var port: String
    /// The HTTP the container serves on `port`; always present.
    var `protocol`: ServingProtocol
    var env: EnvironmentView
    var volumes: [VolumeMount]
    var secretMounts: [SecretMount]
    var concurrency: Int
    var minInstances: Int
    var maxInstances: Int
    var timeoutSeconds: Int
    var status: String
    var statusMessage: String?
    var createdAt: Date

    init(_ revision: StoredRevision) {
        self.revision = revision.number
        image = revision.spec.image
        imageDigest = revision.imageDigest
        cpu = revision.spec.cpu
        ram = revision.spec.memory.text
        gpu = revision.spec.gpu
        gpuModel = revision.spec.gpuModel
        ephemeralStorage = revision.spec.ephemeralStorage.text
        port = String(revision.spec.port)
        `protocol` = revision.spec.servingProtocol
        env = EnvironmentView(revision.spec)
        volumes = revision.spec.volumes
        secretMounts = revision.spec.secretMounts
        concurrency = revision.spec.scaling.concurrency
        minInstances = revision.spec.scaling.minInstances
        maxInstances = revision.spec.scaling.maxInstances
        timeoutSeconds = revision.spec.scaling.timeoutSeconds
        status = revision.phase.rawValue
        statusMessage = revision.message
        createdAt = revision.createdAt
    }
}

struct ContainerList: Encodable, Sendable {
    var containers: [ContainerView]
    /// Present when more containers follow: the next page's `pageToken`.
    var nextPageToken: String?
}

struct InstanceList: Encodable, Sendable {
    var instances: [InstanceReport]
}

struct RevisionList: Encodable, Sendable {
    var revisions: [RevisionView]
}

struct GPUModelList: Encodable, Sendable {
    var gpuModels: [GPUModel]
}

enum JSON {
    /// RFC 3339 dates, stable key order: what clients and the OpenAPI document expect.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(RFC3339.format(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}

/// A revision's env as the API shows it: plain values as strings, secret ones as
/// `{"secret": "<name>"}`, never the secret's value.
struct EnvironmentView: Encodable, Equatable, Sendable {
    var plain: [String: String]
    var secrets: [String: String]

    init(_ spec: RevisionSpec) {
        plain = spec.env
        secrets = spec.secretEnv
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private struct Reference: Encodable {
        var secret: String
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for (name, value) in plain { try container.encode(value, forKey: Key(stringValue: name)) }
        for (name, secret) in secrets { try container.encode(Reference(secret: secret), forKey: Key(stringValue: name)) }
    }
}

import BerthModel
import CNI
import OCI
import Secrets

/// How the runtime runs containers on this host.
public struct RuntimeConfiguration: Sendable {
    /// Berth's data folder: per-container files, ephemeral storage images, logs.
    public var dataDirectory: String
    public var snapshotter: String
    public var network: CNIConfiguration
    public var logs: LogConfiguration
    /// Crash restarts: first delay, doubling up to `maxDelay`; the count resets once a
    /// container has stayed up for `resetAfter` (the kubelet's 10 s / 5 min / 10 min).
    public var restartBackoff: RestartBackoff.Policy
    /// How long a started task may take to accept TCP connections on its port.
    public var readinessTimeout: Duration
    /// SIGTERM to SIGKILL.
    public var stopGracePeriod: Duration
    /// How long resolving and fetching a revision's image may take before the attempt fails
    /// (and is retried with back-off); a registry that accepts and never answers ends here.
    public var pullTimeout: Duration
    /// How long setting up and starting a revision's task (network, storage, snapshot, container,
    /// task) may take before the attempt fails; readiness has its own `readinessTimeout`.
    public var startTimeout: Duration
    public var pidsLimit: Int64
    /// Spec edits for the devices a deployment carries (`RevisionDeployment.gpuDevices`), asked
    /// for only when its spec has `gpu > 0`; an error fails the revision's start with that message.
    public var deviceEdits: @Sendable (RevisionDeployment) throws -> [SpecEdit]
    /// The syscall filter of new revisions: the default profile, or none when the operator set
    /// `runtime.seccomp = "unconfined"`.
    public var seccomp: SeccompMode
    /// When set, new revisions run in a user namespace mapped onto this range, on a view of
    /// their image owned by it (`RemappedImage`); nil runs them in the host's user namespace.
    /// Revisions created before a change keep what they were created with.
    public var userNamespace: UserNamespaceMapping?
    /// Which containerd objects are this node's: it labels what it makes with its identity and
    /// lists and removes only what carries it (`NodeOwnership`).
    public var ownership: NodeOwnership
    /// Opens the secrets a deployment carries sealed (`RevisionDeployment.secrets`) when an
    /// instance starts; nil fails the start of a revision that uses secrets.
    public var secretBox: SecretBox?

    public init(
        dataDirectory: String,
        snapshotter: String = "overlayfs",
        network: CNIConfiguration,
        logs: LogConfiguration? = nil,
        restartBackoff: RestartBackoff.Policy = .kubelet,
        readinessTimeout: Duration = .seconds(120),
        stopGracePeriod: Duration = .seconds(10),
        pullTimeout: Duration = .seconds(600),
        startTimeout: Duration = .seconds(120),
        pidsLimit: Int64 = 4096,
        deviceEdits: @escaping @Sendable (RevisionDeployment) throws -> [SpecEdit] = { deployment in
            throw RuntimeError.noDevices("gpu: \(deployment.spec.gpu) asked for, but this node has no GPU support configured")
        },
        userNamespace: UserNamespaceMapping? = nil,
        seccomp: SeccompMode = .default,
        ownership: NodeOwnership = .unlabelled,
        secretBox: SecretBox? = nil
    ) {
        self.dataDirectory = dataDirectory
        self.snapshotter = snapshotter
        self.network = network
        self.logs = logs ?? LogConfiguration(directory: dataDirectory + "/logs")
        self.restartBackoff = restartBackoff
        self.readinessTimeout = readinessTimeout
        self.stopGracePeriod = stopGracePeriod
        self.pullTimeout = pullTimeout
        self.startTimeout = startTimeout
        self.pidsLimit = pidsLimit
        self.deviceEdits = deviceEdits
        self.userNamespace = userNamespace
        self.seccomp = seccomp
        self.ownership = ownership
        self.secretBox = secretBox
    }

    var containersDirectory: String { dataDirectory + "/containers" }

    /// The node's volumes, under `<data>/volumes`, owned by a container's root.
    public var volumes: VolumeStorage {
        VolumeStorage(directory: dataDirectory + "/volumes", ownerID: userNamespace?.base ?? 0)
    }
}

/// Labels Berth puts on its containerd containers, so it can find its own after a restart.
public enum RuntimeLabel {
    public static let managed = "berth.managed"
    public static let container = "berth.container"
    public static let revision = "berth.revision"
    public static let name = "berth.name"
    /// On a container: the user namespace range ("BASE:SIZE") it was created with.
    /// On a remapped image snapshot: the range its files are owned by.
    public static let userNamespace = "berth.userns"
    /// On a remapped image snapshot: the chain id of the image snapshot it shifts.
    public static let remappedChain = "berth.remap.chain"
    /// On everything a node makes (containers, snapshots, leases, images): its identity, from
    /// its database. Recovery touches only objects that carry its own.
    public static let node = "berth.node"
}

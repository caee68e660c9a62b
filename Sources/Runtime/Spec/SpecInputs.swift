import BerthModel
import OCI

/// What the runtime knows about one revision when it builds its OCI runtime spec.
public struct SpecInputs: Sendable {
    /// The containerd container id (`<container id>-r<revision>`).
    public var runtimeID: String
    /// The container's name; its hostname.
    public var hostname: String
    /// The image's `config` (User, Env, Entrypoint, Cmd, WorkingDir).
    public var imageConfig: ImageConfig.Config
    /// The image's /etc/passwd and /etc/group, for user names in `User`; nil when the image has none.
    public var passwd: String?
    public var group: String?
    /// The revision's variables; they override the image's by name.
    public var env: [String: String]
    /// The port the container listens on: always its `PORT` variable.
    public var port: Int
    /// Cores.
    public var cpu: Double
    public var memoryBytes: Int64
    /// Whether to set memory+swap equal to memory (no swap). On a cgroup v1 host without swap
    /// accounting (no memory.memsw.limit_in_bytes) runc would fail to write it: set false there
    /// (see `CgroupVersion.swapLimitSupported`). On v2, runc writes memory.swap.max = 0, and
    /// ignores its absence.
    public var limitSwap: Bool
    public var pidsLimit: Int64
    /// `RLIMIT_NOFILE`, soft and hard: containerd's 1024 unless raised.
    public var openFilesLimit: UInt64
    /// The network namespace to join (e.g. /var/run/netns/NAME); nil makes a new, empty one.
    public var networkNamespacePath: String?
    /// Files bind-mounted read-only at /etc/hosts, /etc/resolv.conf and /etc/hostname.
    public var hostsPath: String?
    public var resolvConfPath: String?
    public var hostnamePath: String?
    /// Volumes and secret files, mounted after Berth's files in order.
    public var extraMounts: [RuntimeSpec.Mount] = []
    /// cgroupfs style, relative to each hierarchy's root on v1 and the unified root on v2.
    public var cgroupsPath: String
    /// Relative to the bundle, like containerd's: the task's rootfs mounts are made there.
    public var rootfsPath: String
    public var annotations: [String: String]
    /// Applied in order after the spec is assembled (GPU devices, extra mounts…); `PORT` is set
    /// again after them.
    public var edits: [SpecEdit]
    /// The syscall filter: the default profile unless the operator set `runtime.seccomp` to
    /// "unconfined" (nil).
    public var seccomp: RuntimeSpec.Seccomp? = SeccompMode.default.profile()
    /// When set, the container gets a user namespace with its ids mapped onto this host range
    /// (`linux.uidMappings`/`gidMappings`), and /sys is bound from the host instead of mounted
    /// (see `RuntimeSpecBuilder.userNamespaceMounts`). Its root filesystem must be owned by the
    /// range (`RemappedImage`).
    public var userNamespace: UserNamespaceMapping? = nil
    /// `process.oomScoreAdj`: without it the container's processes would inherit the shim's
    /// score (containerd's + 1, i.e. -998) and the kernel's OOM killer would take berthd (-500)
    /// and containerd before a tenant's process.
    public var oomScoreAdj: Int = SpecInputs.containerOOMScoreAdj

    /// Above berthd's -500 and containerd's -999, below the 1000 that makes a process the first
    /// victim whatever its size: among containers, the largest still goes first. A container
    /// cannot lower it (that needs CAP_SYS_RESOURCE, which it does not have).
    public static let containerOOMScoreAdj = 500

    public init(runtimeID: String, hostname: String, imageConfig: ImageConfig.Config?, passwd: String? = nil,
                group: String? = nil, env: [String: String] = [:], port: Int, cpu: Double, memoryBytes: Int64,
                limitSwap: Bool = true, pidsLimit: Int64 = SpecDefaults.pidsLimit,
                openFilesLimit: UInt64 = SpecDefaults.openFiles, networkNamespacePath: String? = nil,
                hostsPath: String? = nil, resolvConfPath: String? = nil, hostnamePath: String? = nil,
                cgroupsPath: String? = nil, rootfsPath: String = "rootfs", annotations: [String: String] = [:],
                edits: [SpecEdit] = []) {
        self.runtimeID = runtimeID
        self.hostname = hostname
        self.imageConfig = imageConfig ?? ImageConfig.Config()
        self.passwd = passwd
        self.group = group
        self.env = env
        self.port = port
        self.cpu = cpu
        self.memoryBytes = memoryBytes
        self.limitSwap = limitSwap
        self.pidsLimit = pidsLimit
        self.openFilesLimit = openFilesLimit
        self.networkNamespacePath = networkNamespacePath
        self.hostsPath = hostsPath
        self.resolvConfPath = resolvConfPath
        self.hostnamePath = hostnamePath
        self.cgroupsPath = cgroupsPath ?? Self.cgroupsPath(runtimeID: runtimeID)
        self.rootfsPath = rootfsPath
        self.annotations = annotations
        self.edits = edits
    }

    /// A revision's image, env, port, cpu and memory.
    public init(runtimeID: String, hostname: String, revision: RevisionSpec, image: ImageConfig,
                passwd: String? = nil, group: String? = nil, networkNamespacePath: String? = nil) {
        self.init(runtimeID: runtimeID, hostname: hostname, imageConfig: image.config, passwd: passwd, group: group,
                  env: revision.env, port: revision.port, cpu: revision.cpu, memoryBytes: revision.memory.bytes,
                  networkNamespacePath: networkNamespacePath)
    }

    /// "/berth/<runtime id>": the same folder name in every v1 hierarchy and under the v2 root.
    public static func cgroupsPath(runtimeID: String) -> String {
        "/berth/\(runtimeID)"
    }
}

import OCI

/// The defaults of a Berth container's runtime spec, taken from containerd 1.6 (the version on
/// the development machines; 1.7 has the same lists) so that a container runs as it would under
/// `ctr run` or Kubernetes' CRI plugin:
///
/// - capabilities, namespaces, masked and read-only paths, `RLIMIT_NOFILE`, the deny-all device
///   rule, rootfs "rootfs", cwd "/", uid/gid 0 and `noNewPrivileges`: `oci/spec.go`
///   (`populateDefaultUnixSpec`, `defaultUnixCaps`, `defaultUnixNamespaces`; `pkg/oci/spec.go`
///   in 2.x). The masked paths include /sys/devices/virtual/powercap (RAPL energy counters, a
///   side channel), which containerd masks since 1.6.26, 1.7.11 and 2.0 ("oci/spec: deny
///   /sys/devices/virtual/powercap"); 1.6.20 does not yet;
/// - mounts: `oci/mounts.go` (`defaultMounts`) without the `/run` tmpfs, which the CRI plugin
///   also drops (`oci.WithoutRunMount` in `pkg/cri/server/container_create_linux.go`) and Docker
///   never had, plus the read-only `/sys/fs/cgroup` mount the CRI plugin adds
///   (`pkg/cri/opts/spec_linux.go`, `WithMounts`);
/// - allowed devices: `oci/spec_opts.go` (`WithDefaultUnixDevices`);
/// - `PATH`: `oci/spec.go` (`defaultUnixEnv`);
/// - bind mounts of /etc/hosts, /etc/resolv.conf, /etc/hostname: type "bind" with
///   `rbind`, `rprivate`, `ro`, as the CRI plugin writes read-only private mounts
///   (`pkg/cri/opts/spec_linux.go`, `WithMounts`).
///
/// runc (1.1) adds its own allow rules after these in any case (`specconv.AllowedDevices`:
/// mknod of any char or block device, the same standard devices, and in 1.1.x /dev/net/tun), and
/// creates /dev/null, zero, full, random, urandom and tty itself; none of that has to be listed.
/// Berth adds what Docker and Kubernetes add on top: a cgroup namespace for every container
/// (Docker's default on cgroup v2, the kubelet's too), the default seccomp profile
/// (`SeccompProfile`, set by `SpecInputs.seccomp`), and more masked paths (`maskedPaths`).
public enum SpecDefaults {
    public static let capabilities = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        // CAP_NET_RAW (in containerd's and Docker's set) is left out: raw and packet sockets let a
        // process forge addresses and sniff its interface. ping keeps working through ICMP
        // datagram sockets (the CNI attach opens ping_group_range, as Docker does). Kubernetes'
        // restricted pod security standard drops it too.
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]

    public static let maskedPaths = [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
        "/proc/scsi",
        // Beyond containerd's list: per-CPU interrupt counts, a side channel on other tenants'
        // activity (Docker 28 and Kubernetes 1.34 mask it), and the host's NVIDIA driver state:
        // every GPU's bus id, model and UUID, whichever GPUs the container was given.
        "/proc/interrupts",
        "/proc/driver/nvidia",
    ]

    public static let readonlyPaths = [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]

    public static let mounts: [RuntimeSpec.Mount] = [
        .init(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
        .init(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        .init(destination: "/dev/pts", type: "devpts", source: "devpts",
              options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        .init(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        .init(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
        .init(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
        .init(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"]),
    ]

    /// Deny everything, then allow the standard character devices (read, write, mknod).
    public static let deviceRules: [RuntimeSpec.DeviceCgroup] = [
        .init(allow: false, access: "rwm"),
        .init(allow: true, type: "c", major: 1, minor: 3, access: "rwm"),   // /dev/null
        .init(allow: true, type: "c", major: 1, minor: 8, access: "rwm"),   // /dev/random
        .init(allow: true, type: "c", major: 1, minor: 7, access: "rwm"),   // /dev/full
        .init(allow: true, type: "c", major: 5, minor: 0, access: "rwm"),   // /dev/tty
        .init(allow: true, type: "c", major: 1, minor: 5, access: "rwm"),   // /dev/zero
        .init(allow: true, type: "c", major: 1, minor: 9, access: "rwm"),   // /dev/urandom
        .init(allow: true, type: "c", major: 5, minor: 1, access: "rwm"),   // /dev/console
        .init(allow: true, type: "c", major: 136, minor: nil, access: "rwm"), // /dev/pts/*
        .init(allow: true, type: "c", major: 5, minor: 2, access: "rwm"),   // /dev/ptmx
    ]

    /// containerd's five plus "cgroup": /proc/self/cgroup shows "/" and /sys/fs/cgroup is the
    /// container's own cgroup, not the host's tree with other containers' names in it.
    public static let namespaceTypes = ["pid", "ipc", "uts", "mount", "network", "cgroup"]

    public static let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// containerd's default `RLIMIT_NOFILE`, soft and hard. Berth keeps it (see
    /// `SpecInputs.openFilesLimit` to raise it); Docker instead passes on its daemon's limit.
    public static let openFiles: UInt64 = 1024

    public static let pidsLimit: Int64 = 4096

    /// The CFS period: 100 ms, as Docker and Kubernetes use.
    public static let cpuPeriod: UInt64 = 100_000
    /// The smallest quota the kernel accepts is 1 ms.
    public static let minimumCPUQuota: Int64 = 1000
    /// cgroup v1 `cpu.shares` bounds (runc maps them onto v2 `cpu.weight`).
    public static let minimumCPUShares: UInt64 = 2
    public static let maximumCPUShares: UInt64 = 262_144

    /// Options of the read-only bind mounts for /etc/hosts, /etc/hostname and /etc/resolv.conf.
    public static let readonlyBindOptions = RuntimeSpec.Mount.readonlyBindOptions
}

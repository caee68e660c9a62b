/// Where a volume or a secret file appears inside a container: an absolute, normalised path
/// that does not cover what the runtime itself mounts there (the kernel's /proc, /sys and /dev,
/// Berth's /etc/hosts, /etc/hostname and /etc/resolv.conf) nor the whole root.
public enum MountPath {
    /// Folders a mount may not be at or under: the kernel's views, which a bind over would hide
    /// or (under /proc) could redirect.
    static let reservedTrees = ["/proc", "/sys", "/dev"]
    /// Files Berth binds into every container.
    static let reservedFiles = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]

    /// Nil when `path` may be mounted on, else why not (one line, for a field error).
    public static func problem(_ path: String) -> String? {
        guard path.hasPrefix("/") else { return "must be an absolute path such as /models" }
        guard path.utf8.count <= 4096 else { return "must be at most 4096 bytes" }
        guard !path.contains("\0") else { return "must not contain NUL bytes" }
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard !components.isEmpty, path != "/" else { return "must not be / (the container's root)" }
        for component in components {
            if component.isEmpty { return "must not contain // or end with /" }
            if component == "." || component == ".." { return "must not contain . or .. components" }
        }
        for tree in reservedTrees where path == tree || path.hasPrefix(tree + "/") {
            return "must not be at or under \(tree), which the runtime mounts"
        }
        if reservedFiles.contains(path) { return "must not be \(path), which Berth writes" }
        return nil
    }

    /// Whether one of the two paths is the other or lies under it: two mounts there would
    /// hide one another.
    public static func overlaps(_ a: String, _ b: String) -> Bool {
        a == b || a.hasPrefix(b + "/") || b.hasPrefix(a + "/")
    }
}

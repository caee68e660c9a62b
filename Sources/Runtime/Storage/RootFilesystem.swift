import ContainerdClient
import Foundation

/// A revision's root filesystem: the image's layers read-only (a containerd view snapshot of
/// the image's chain, which keeps them from garbage collection while the container exists)
/// under an overlay whose writable layer is on the revision's ephemeral storage.
struct RootFilesystem: Sendable {
    let viewKey: String
    let storage: EphemeralStorage

    /// The read-only layers, topmost first, from the view's mounts: a single layer comes back as
    /// a bind mount, several as an overlay with only `lowerdir`.
    static func lowerDirectories(of mounts: [Mount]) throws -> [String] {
        guard let mount = mounts.first, mounts.count == 1 else {
            throw RuntimeError.storage("unexpected view mounts: \(mounts)")
        }
        switch mount.type {
        case "bind", "rbind":
            return [mount.source]
        case "overlay":
            guard let lower = mount.options.first(where: { $0.hasPrefix("lowerdir=") }) else {
                throw RuntimeError.storage("overlay view without lowerdir: \(mount.options)")
            }
            return lower.dropFirst("lowerdir=".count).split(separator: ":").map(String.init)
        default:
            throw RuntimeError.storage("unsupported view mount type \(mount.type)")
        }
    }

    /// The mount the task's shim performs as the container's rootfs.
    func rootfsMount(lowerDirectories: [String]) -> Mount {
        Mount(type: "overlay", source: "overlay", options: [
            "index=off",
            "lowerdir=\(lowerDirectories.joined(separator: ":"))",
            "upperdir=\(storage.upperDirectory)",
            "workdir=\(storage.workDirectory)",
        ])
    }

    /// A file of the image (e.g. /etc/passwd) as the container would see it, resolved inside the
    /// image's root (see `ImageFileReader`); nil when the image has none.
    static func readImageFile(_ path: String, lowerDirectories: [String]) throws(ImageFileError) -> String? {
        try ImageFileReader(layers: lowerDirectories).text(path)
    }
}

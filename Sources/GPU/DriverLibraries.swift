import Foundation
import Logging

/// The driver's user-space files a CUDA container needs: the libraries and programs of
/// libnvidia-container's "utility" and "compute" sets (NVIDIA_DRIVER_CAPABILITIES=compute,utility).
///
/// A library is looked for in this order, and the first real file wins:
/// 1. the linker cache (/etc/ld.so.cache, as `ldconfig -p` lists it, this architecture only):
///    where the host's own programs would load it from;
/// 2. the standard folders: /usr/lib/<multiarch>, /lib/<multiarch>, /usr/lib64, /lib64, /usr/lib,
///    /lib (a fake tree has no useful cache, and a host's cache may be stale).
/// Candidates are followed to their real file; when the kernel module's version is known, the file
/// named `<library>.so.<version>` is taken (a leftover of an older driver would fail against the
/// module), else the first. The container gets the real file at its own path and again at every
/// link to it beside it or in the cache (libcuda.so.1, libcuda.so): the links are bind mounts of
/// the file rather than symbolic links, so nothing needs ldconfig or a hook in the container,
/// and the loader finds libcuda.so.1 in the multiarch folder it searches by default.
struct DriverLibraries {
    static let utilityLibraries = ["libnvidia-ml", "libnvidia-cfg", "libnvidia-nscq"]
    static let computeLibraries = [
        "libcuda", "libcudadebugger", "libnvidia-opencl", "libnvidia-gpucomp", "libnvidia-ptxjitcompiler",
        "libnvidia-fatbinaryloader", "libnvidia-allocator", "libnvidia-compiler", "libnvidia-pkcs11",
        "libnvidia-pkcs11-openssl3", "libnvidia-nvvm",
    ]
    static let utilityPrograms = ["nvidia-smi", "nvidia-debugdump", "nvidia-persistenced"]
    static let computePrograms = ["nvidia-cuda-mps-control", "nvidia-cuda-mps-server"]

    static var multiarch: String {
        #if arch(arm64)
        "aarch64-linux-gnu"
        #else
        "x86_64-linux-gnu"
        #endif
    }

    static let libraryDirectories = [
        "/usr/lib/\(multiarch)", "/lib/\(multiarch)", "/usr/lib64", "/lib64", "/usr/lib", "/lib",
    ]
    static let programDirectories = ["/usr/bin", "/usr/local/bin", "/bin", "/usr/sbin", "/sbin"]

    var root: HostRoot
    var cache: [LinkerCache.Entry]
    var version: String?
    var logger: Logger

    /// Every library and program found, libraries first.
    func mounts() -> [DriverMount] {
        var mounts: [DriverMount] = []
        for family in Self.utilityLibraries + Self.computeLibraries {
            mounts += library(family)
        }
        for name in Self.utilityPrograms + Self.computePrograms {
            if let mount = program(name) { mounts.append(mount) }
        }
        var seen = Set<String>()
        return mounts.filter { seen.insert($0.destination).inserted }
    }

    /// The library's real file mounted at its path and at each link to it.
    func library(_ family: String) -> [DriverMount] {
        let stem = family + ".so"
        func matches(_ name: String) -> Bool { name == stem || name.hasPrefix(stem + ".") }

        var candidates = cache.filter { matches($0.name) }.map(\.path)
        for directory in Self.libraryDirectories {
            candidates += root.contents(of: directory).filter(matches).map { "\(directory)/\($0)" }
        }
        var files: [String] = []
        var links: [String: [String]] = [:]
        for candidate in candidates {
            guard let file = root.canonical(candidate), root.isRegularFile(file) else { continue }
            if !files.contains(file) { files.append(file) }
            if root.isSymbolicLink(candidate), let link = root.canonicalEntry(candidate) {
                links[file, default: []].append(link)
            }
        }
        guard let first = files.first else { return [] }
        var chosen = first
        if let version {
            if let match = files.first(where: { Self.name(of: $0) == "\(stem).\(version)" }) {
                chosen = match
            } else {
                logger.warning("no driver library of the kernel module's version; using the first found",
                               metadata: ["library": "\(stem)", "version": "\(version)", "using": "\(first)"])
            }
        }
        let directory = Self.directory(of: chosen)
        for name in root.contents(of: directory) where matches(name) {
            let path = "\(directory)/\(name)"
            if root.isSymbolicLink(path) && root.canonical(path) == chosen { links[chosen, default: []].append(path) }
        }
        var destinations = [chosen]
        for link in links[chosen] ?? [] where !destinations.contains(link) { destinations.append(link) }
        return destinations.map { DriverMount(source: root.path(chosen), destination: $0) }
    }

    /// The program's real file mounted where the first program folder has it.
    func program(_ name: String) -> DriverMount? {
        Self.program(name, root: root)
    }

    static func program(_ name: String, root: HostRoot) -> DriverMount? {
        for directory in programDirectories {
            let path = "\(directory)/\(name)"
            guard root.isExecutable(path), let file = root.canonical(path),
                  let destination = root.canonicalEntry(path) else { continue }
            return DriverMount(source: root.path(file), destination: destination)
        }
        return nil
    }

    static func name(of path: String) -> String {
        String(path.split(separator: "/").last ?? "")
    }

    static func directory(of path: String) -> String {
        let parent = path.split(separator: "/").dropLast().joined(separator: "/")
        return "/" + parent
    }
}

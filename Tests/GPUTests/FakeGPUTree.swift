import Foundation
@testable import GPU
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A host with four NVIDIA GPUs under a temporary folder: what the driver puts in /proc, /dev,
/// the library folders and /usr/bin, made for real (device nodes with mknod, so runc and busybox
/// can stat them).
///
/// - GPUs: minors 0 and 1 are "NVIDIA H200" (143771 MiB), 2 and 3 "NVIDIA A100-SXM4-80GB"
///   (81920 MiB); /dev/nvidia0…3 are 195:N, /dev/nvidiactl 195:255, /dev/nvidia-uvm 511:0;
///   /dev/nvidia-uvm-tools is missing (the kernel has nvidia-uvm, so it is still given) and so is
///   /dev/nvidia-modeset (not given).
/// - Driver 550.54.14: libcuda and libnvidia-ml in /usr/lib/x86_64-linux-gnu with their .so.1 and
///   .so links, an older libcuda.so.535.104.05 left over, /lib → usr/lib (merged /usr), and
///   libnvidia-ptxjitcompiler in /opt/nvidia/lib, which only the linker cache names.
/// - /usr/bin/nvidia-smi: a script answering the memory query.
struct FakeGPUTree {
    static let version = "550.54.14"
    static let libraryDirectory = "/usr/lib/x86_64-linux-gnu"
    static let gpus: [(minor: Int, model: String, uuid: String, mebibytes: Int, bus: String)] = [
        (0, "NVIDIA H200", "GPU-8c1e5a2b-0000-4000-8000-000000000000", 143_771, "0000:19:00.0"),
        (1, "NVIDIA H200", "GPU-8c1e5a2b-0001-4000-8000-000000000001", 143_771, "0000:3b:00.0"),
        (2, "NVIDIA A100-SXM4-80GB", "GPU-a100a100-0002-4000-8000-000000000002", 81_920, "0000:4c:00.0"),
        (3, "NVIDIA A100-SXM4-80GB", "GPU-a100a100-0003-4000-8000-000000000003", 81_920, "0000:5d:00.0"),
    ]
    static let uvmMajor: Int64 = 511

    let root: String

    /// An empty tree in a fresh temporary folder (under the test environment's scratch when
    /// there is one).
    static func empty(_ name: String = "gpu-tree") throws -> FakeGPUTree {
        let scratch = ProcessInfo.processInfo.environment["BERTH_TEST_SCRATCH"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.temporaryDirectory.path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        var template = Array("\(scratch)/\(name)-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestSupportError("mkdtemp failed: errno \(errno)")
        }
        return FakeGPUTree(root: String(cString: made))
    }

    /// The whole driver: /proc, /dev, libraries, linker cache, nvidia-smi.
    static func withDriver(_ name: String = "gpu-tree") throws -> FakeGPUTree {
        guard getuid() == 0 else { throw XCTSkip("making device nodes with mknod needs root") }
        let tree = try empty(name)
        try tree.writeDriver()
        return tree
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: root)
    }

    func path(_ hostPath: String) -> String { root + hostPath }

    func writeDriver() throws {
        for gpu in Self.gpus {
            try write("/proc/driver/nvidia/gpus/\(gpu.bus)/information", """
                Model: \t\t \(gpu.model)
                IRQ:   \t\t 0
                GPU UUID: \t \(gpu.uuid)
                Video BIOS: \t 96.00.74.00.01
                Bus Type: \t PCIe
                DMA Size: \t 52 bits
                DMA Mask: \t 0xfffffffffffff
                Bus Location: \t \(gpu.bus)
                Device Minor: \t \(gpu.minor)
                GPU Firmware: \t \(Self.version)
                GPU Excluded:\t No

                """)
            try makeCharacterDevice("/dev/nvidia\(gpu.minor)", major: 195, minor: Int64(gpu.minor))
        }
        try write("/proc/driver/nvidia/version", """
            NVRM version: NVIDIA UNIX x86_64 Kernel Module  \(Self.version)  Thu Feb 22 01:44:30 UTC 2024
            GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)

            """)
        try write("/proc/devices", """
            Character devices:
              1 mem
              4 /dev/vc/0
              5 /dev/tty
            195 nvidia-frontend
            \(Self.uvmMajor) nvidia-uvm

            Block devices:
              7 loop
            254 virtblk

            """)
        try makeCharacterDevice("/dev/nvidiactl", major: 195, minor: 255)
        try makeCharacterDevice("/dev/nvidia-uvm", major: Self.uvmMajor, minor: 0)

        let lib = Self.libraryDirectory
        for family in ["libcuda", "libnvidia-ml"] {
            try write("\(lib)/\(family).so.\(Self.version)", "fake \(family) \(Self.version)\n")
            try symlink("\(lib)/\(family).so.1", to: "\(family).so.\(Self.version)")
            try symlink("\(lib)/\(family).so", to: "\(family).so.1")
        }
        try write("\(lib)/libcuda.so.535.104.05", "fake libcuda 535.104.05 (left over)\n")
        try symlink("/lib", to: "usr/lib")
        try write("/opt/nvidia/lib/libnvidia-ptxjitcompiler.so.\(Self.version)", "fake ptxjitcompiler\n")
        try symlink("/opt/nvidia/lib/libnvidia-ptxjitcompiler.so.1", to: "libnvidia-ptxjitcompiler.so.\(Self.version)")
        let cache = LinkerCache(entries: [
            .init(name: "libcuda.so.1", path: "/lib/x86_64-linux-gnu/libcuda.so.1", flags: 0x0303),
            .init(name: "libcuda.so.1", path: "/usr/lib/i386-linux-gnu/libcuda.so.1", flags: 0x0003),
            .init(name: "libnvidia-ptxjitcompiler.so.1", path: "/opt/nvidia/lib/libnvidia-ptxjitcompiler.so.1", flags: 0x0303),
            .init(name: "libc.so.6", path: "/lib/x86_64-linux-gnu/libc.so.6", flags: 0x0303),
        ])
        try write("/etc/ld.so.cache", cache.encoded())

        let memory = Self.gpus.map { "\($0.uuid), \($0.mebibytes)" }.joined(separator: "\\n")
        try write("/usr/bin/nvidia-smi", """
            #!/bin/sh
            if [ "$1" = "--query-gpu=uuid,memory.total" ] && [ "$2" = "--format=csv,noheader,nounits" ]; then
              printf '\(memory)\\n'
              exit 0
            fi
            echo "fake nvidia-smi: unexpected arguments: $*" >&2
            exit 2

            """, mode: 0o755)
    }

    func write(_ hostPath: String, _ text: String, mode: Int = 0o644) throws {
        try write(hostPath, Data(text.utf8), mode: mode)
    }

    func write(_ hostPath: String, _ data: Data, mode: Int = 0o644) throws {
        let full = path(hostPath)
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: full))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: full)
    }

    func symlink(_ hostPath: String, to target: String) throws {
        let full = path(hostPath)
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: target)
    }

    func makeCharacterDevice(_ hostPath: String, major: Int64, minor: Int64) throws {
        let full = path(hostPath)
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        guard Glibc.mknod(full, S_IFCHR | 0o666, Self.makedev(major, minor)) == 0 else {
            throw TestSupportError("mknod \(full) c \(major) \(minor): errno \(errno)")
        }
        // mknod's mode passed through the umask.
        guard chmod(full, 0o666) == 0 else { throw TestSupportError("chmod \(full): errno \(errno)") }
    }

    /// glibc's gnu_dev_makedev.
    static func makedev(_ major: Int64, _ minor: Int64) -> dev_t {
        let major = UInt64(major), minor = UInt64(minor)
        return dev_t((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12) | ((major & ~0xfff) << 32))
    }
}

import Logging

/// What the built-in injection gives a container when there is no CDI spec: device nodes and the
/// driver's user-space files.
struct DriverFiles: Sendable, Hashable {
    /// The kernel module's version, which the libraries must match.
    var version: String?
    /// /dev/nvidia<minor>, by minor.
    var gpuNodes: [Int: DeviceNode]
    /// nvidiactl, nvidia-uvm, nvidia-uvm-tools, nvidia-modeset: every GPU container gets them.
    var controlNodes: [DeviceNode]
    /// Libraries and programs, bind-mounted read-only.
    var mounts: [DriverMount]
}

/// A character device as the container gets it (same path as on the host).
struct DeviceNode: Sendable, Hashable {
    var path: String
    var type: String
    var major: Int64
    var minor: Int64
    var fileMode: UInt32
}

/// A file of the host (`source`, where it is read here) mounted at `destination`.
struct DriverMount: Sendable, Hashable {
    var source: String
    var destination: String
}

/// Finds the driver's device nodes. The node on the host gives the numbers (stat), and they are
/// checked against the majors the kernel registered (/proc/devices). A node the host lacks is
/// still given when the kernel has its driver (runc creates nodes in the container from the
/// numbers alone): /dev/nvidia-uvm appears on the host only once something first used CUDA, and a
/// container without it cannot run CUDA. nvidia-modeset is given only when the host has it.
struct DriverNodes {
    var root: HostRoot
    var majors: [String: Int64]
    var logger: Logger

    var frontendMajor: Int64 { DriverInfo.frontendMajor(majors) ?? DriverInfo.fixedFrontendMajor }

    func gpuNode(minor: Int) -> DeviceNode {
        node("/dev/nvidia\(minor)", expectedMajor: frontendMajor, fallbackMinor: Int64(minor), synthesize: true)!
    }

    func controlNodes() -> [DeviceNode] {
        let uvm = majors["nvidia-uvm"]
        return [
            node("/dev/nvidiactl", expectedMajor: frontendMajor, fallbackMinor: 255, synthesize: true),
            node("/dev/nvidia-uvm", expectedMajor: uvm, fallbackMinor: 0, synthesize: uvm != nil),
            node("/dev/nvidia-uvm-tools", expectedMajor: uvm, fallbackMinor: 1, synthesize: uvm != nil),
            node("/dev/nvidia-modeset", expectedMajor: frontendMajor, fallbackMinor: 254, synthesize: false),
        ].compactMap { $0 }
    }

    private func node(_ path: String, expectedMajor: Int64?, fallbackMinor: Int64, synthesize: Bool) -> DeviceNode? {
        if let info = root.status(path) {
            if info.isCharacterDevice {
                if let expectedMajor, info.deviceMajor != expectedMajor {
                    logger.warning("GPU device node major differs from /proc/devices; using the node's", metadata: [
                        "path": "\(path)", "node": "\(info.deviceMajor):\(info.deviceMinor)", "expected": "\(expectedMajor)",
                    ])
                }
                return DeviceNode(path: path, type: "c", major: info.deviceMajor, minor: info.deviceMinor,
                                  fileMode: info.permissionBits)
            }
            logger.warning("not a character device; ignored", metadata: ["path": "\(path)"])
        }
        guard synthesize, let major = expectedMajor else { return nil }
        logger.info("GPU device node missing on the host; the container gets one from the driver's numbers",
                    metadata: ["path": "\(path)", "device": "\(major):\(fallbackMinor)"])
        return DeviceNode(path: path, type: "c", major: major, minor: fallbackMinor, fileMode: 0o666)
    }
}

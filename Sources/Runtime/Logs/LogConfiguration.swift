import Foundation

/// Where containers' logs go and how big they may grow.
///
/// Each container writes, through the `berth-logger` binary that containerd's shim runs next to
/// it, to `<directory>/<container id>/container.log` in the CRI log format, rotated by size into
/// `container.log.1` (newest) … `container.log.<maxFiles>` (oldest).
public struct LogConfiguration: Sendable, Equatable {
    /// `<data dir>/logs`.
    public var directory: String
    /// container.log is rotated before it would grow past this.
    public var maxFileBytes: Int64
    /// Rotated files kept besides the current one.
    public var maxFiles: Int
    /// Absolute path of the berth-logger binary.
    public var loggerPath: String

    /// `loggerPath` defaults to `berth-logger` next to the running executable.
    public init(directory: String, maxFileBytes: Int64 = 10 << 20, maxFiles: Int = 3, loggerPath: String? = nil) {
        self.directory = directory
        self.maxFileBytes = maxFileBytes
        self.maxFiles = maxFiles
        self.loggerPath = loggerPath ?? Self.defaultLoggerPath()
    }

    /// `<folder of /proc/self/exe>/berth-logger`.
    public static func defaultLoggerPath() -> String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments.first
            ?? "/usr/local/bin/berthd"
        let folder = (executable as NSString).deletingLastPathComponent
        return (folder.isEmpty ? "." : folder) + "/berth-logger"
    }
}

/// A failure reading or removing a container's logs.
public struct LogError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }

    static func invalidContainerID(_ id: String) -> LogError {
        LogError("invalid container id '\(id)' for a log folder")
    }

    static func system(_ what: String, _ path: String, _ code: Int32 = errno) -> LogError {
        LogError("\(what) \(path): \(String(cString: strerror(code)))")
    }
}

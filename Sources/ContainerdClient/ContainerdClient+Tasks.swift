import ContainerdAPI
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf

/// A task's state as containerd reports it.
public struct TaskState: Sendable, Equatable {
    public enum Status: Sendable, Equatable {
        case created, running, stopped, paused, pausing, unknown
    }

    public var containerID: String
    public var pid: UInt32
    public var status: Status
    public var exitStatus: UInt32
    public var exitedAt: Date?
}

/// Where a task's standard streams go: paths of FIFOs or files, or `binary://`/`file://` URIs
/// as the runc shim understands them. Empty means /dev/null.
public struct TaskIO: Sendable, Equatable {
    public var stdin: String
    public var stdout: String
    public var stderr: String

    public init(stdin: String = "", stdout: String = "", stderr: String = "") {
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
    }
}

extension ContainerdClient {
    var tasks: Containerd_Services_Tasks_V1_Tasks.Client<HTTP2ClientTransport.Posix> {
        .init(wrapping: grpc)
    }

    /// Creates the container's init process (not yet started); returns its pid.
    public func createTask(containerID: String, rootfs: [Mount], io: TaskIO) async throws -> UInt32 {
        try await unary("Tasks.Create") {
            try await tasks.create(.with {
                $0.containerID = containerID
                $0.rootfs = rootfs.map(\.proto)
                $0.stdin = io.stdin
                $0.stdout = io.stdout
                $0.stderr = io.stderr
            }, metadata: metadata, options: Self.unaryOptions).pid
        }
    }

    @discardableResult
    public func startTask(containerID: String) async throws -> UInt32 {
        try await unary("Tasks.Start") {
            try await tasks.start(.with { $0.containerID = containerID }, metadata: metadata, options: Self.unaryOptions).pid
        }
    }

    /// The task's state, or nil when the container has no task.
    public func task(containerID: String) async throws -> TaskState? {
        do {
            let process = try await unary("Tasks.Get") {
                try await tasks.get(.with { $0.containerID = containerID }, metadata: metadata, options: Self.unaryOptions).process
            }
            return TaskState(process)
        } catch let error as ContainerdError where error.code == .notFound {
            return nil
        }
    }

    public func listTasks() async throws -> [TaskState] {
        try await unary("Tasks.List") {
            try await tasks.list(.init(), metadata: metadata, options: Self.unaryOptions).tasks.map(TaskState.init)
        }
    }

    /// Sends `signal` to the init process, or with `all` to every process in the container.
    public func killTask(containerID: String, signal: Int32, all: Bool = false) async throws {
        _ = try await unary("Tasks.Kill") {
            try await tasks.kill(.with {
                $0.containerID = containerID
                $0.signal = UInt32(signal)
                $0.all = all
            }, metadata: metadata, options: Self.unaryOptions)
        }
    }

    /// Deletes a stopped task and returns its exit status.
    @discardableResult
    public func deleteTask(containerID: String) async throws -> UInt32 {
        try await unary("Tasks.Delete") {
            try await tasks.delete(.with { $0.containerID = containerID }, metadata: metadata, options: Self.unaryOptions).exitStatus
        }
    }

    /// Freezes every process of the task (the cgroup freezer): memory kept, no CPU.
    public func pauseTask(containerID: String) async throws {
        _ = try await unary("Tasks.Pause") {
            try await tasks.pause(.with { $0.containerID = containerID }, metadata: metadata, options: Self.unaryOptions)
        }
    }

    public func resumeTask(containerID: String) async throws {
        _ = try await unary("Tasks.Resume") {
            try await tasks.resume(.with { $0.containerID = containerID }, metadata: metadata, options: Self.unaryOptions)
        }
    }

    /// Pids of all processes in the task.
    public func taskPids(containerID: String) async throws -> [UInt32] {
        try await unary("Tasks.ListPids") {
            try await tasks.listPids(.with { $0.containerID = containerID }, metadata: metadata, options: Self.unaryOptions)
                .processes.map(\.pid)
        }
    }

    /// Waits for the task to exit and returns its exit status.
    public func waitTask(containerID: String) async throws -> UInt32 {
        try await call("Tasks.Wait") {
            try await tasks.wait(.with { $0.containerID = containerID }, metadata: metadata, options: Self.streamingOptions).exitStatus
        }
    }
}

extension TaskState {
    init(_ process: Containerd_V1_Types_Process) {
        let status: Status
        switch process.status {
        case .created: status = .created
        case .running: status = .running
        case .stopped: status = .stopped
        case .paused: status = .paused
        case .pausing: status = .pausing
        default: status = .unknown
        }
        self.init(containerID: process.containerID, pid: process.pid, status: status,
                  exitStatus: process.exitStatus, exitedAt: process.exitedAt.dateIfSet)
    }
}

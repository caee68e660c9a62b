import Foundation

/// A private containerd for tests that must restart it: its own root, state and socket under
/// `directory`, started with the same config shape as scripts/test-env.sh.
public final class ContainerdProcess: @unchecked Sendable {
    public let directory: String
    private let lock = NSLock()
    private var process: ChildProcess?

    public var socket: String { directory + "/containerd.sock" }
    public var root: String { directory + "/root" }
    public var state: String { directory + "/state" }
    public var logFile: String { directory + "/containerd.log" }

    /// The pid while the process runs.
    public var pid: Int32? {
        lock.withLock { process.flatMap { $0.isRunning ? $0.pid : nil } }
    }

    public init(directory: String) throws {
        let absolute = directory.hasPrefix("/") ? directory : FileManager.default.currentDirectoryPath + "/" + directory
        self.directory = absolute
        // sun_path holds 108 bytes, and containerd also listens on SOCKET.ttrpc.
        guard (absolute + "/containerd.sock.ttrpc").utf8.count < 108 else {
            throw TestSupportError("\(absolute) is too long a folder for containerd's unix sockets")
        }
        for folder in [absolute, root, state, absolute + "/opt"] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        let config = """
            version = 2
            root = "\(root)"
            state = "\(state)"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]

            [grpc]
              address = "\(socket)"

            [ttrpc]
              address = "\(socket).ttrpc"

            [debug]
              address = ""

            [metrics]
              address = ""

            [plugins."io.containerd.internal.v1.opt"]
              path = "\(absolute)/opt"

            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: absolute + "/config.toml"))
    }

    deinit {
        process?.terminate(graceSeconds: 10)
    }

    /// Starts containerd and waits (up to 20 s) until its socket answers.
    public func start() async throws {
        let process = try lock.withLock { () throws -> ChildProcess in
            if let running = self.process, running.isRunning {
                throw TestSupportError("containerd in \(directory) already runs as pid \(running.pid)")
            }
            let process = try ChildProcess(
                executable: try resolveExecutable("containerd"),
                arguments: ["--root", root, "--state", state, "--address", socket, "--config", directory + "/config.toml"],
                logFile: logFile)
            self.process = process
            return process
        }

        let deadline = Date().addingTimeInterval(20)
        while true {
            guard process.isRunning else {
                throw TestSupportError("containerd exited (wait status \(process.exitStatus ?? 0)) during startup; "
                    + "\(logFile) ends with:\n\(logTail())")
            }
            let socket = self.socket
            let answered = (try? await onBlockingThread { try runCommand("ctr", ["--address", socket, "--connect-timeout", "2s", "version"]) }) != nil
            if answered { return }
            guard Date() < deadline else {
                throw TestSupportError("containerd did not answer on \(socket) within 20 s; \(logFile) ends with:\n\(logTail())")
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
    }

    /// Sends SIGTERM to exactly our pid and waits for it to exit (SIGKILL after 15 s).
    /// Shims and containers keep running, as they do when a real containerd restarts.
    public func stop() async throws {
        guard let process = lock.withLock({ self.process }), process.isRunning else { return }
        try await onBlockingThread { process.terminate(graceSeconds: 15) }
    }

    public func restart() async throws {
        try await stop()
        try await start()
    }

    /// Deletes every task while containerd still answers, stops it, then removes what is left:
    /// runc containers whose rootfs lies under `directory`, task processes, shims naming our
    /// socket, and everything still mounted under `directory`.
    public func cleanup() {
        if let process = lock.withLock({ self.process }), process.isRunning {
            deleteTasks()
            process.terminate(graceSeconds: 10)
        }
        forceDeleteRuncContainers()
        for pid in taskPIDs() + shimPIDs() {
            kill(pid, SIGKILL)
        }
        unmountAll()
    }

    private func deleteTasks() {
        let ctr = ["--address", socket, "--connect-timeout", "2s"]
        let namespaces = (try? runCommand("ctr", ctr + ["namespaces", "ls", "-q"])) ?? ""
        for namespace in namespaces.split(separator: "\n").map(String.init) {
            let tasks = (try? runCommand("ctr", ctr + ["--namespace", namespace, "tasks", "ls", "-q"])) ?? ""
            for task in tasks.split(separator: "\n").map(String.init) {
                _ = try? runCommand("ctr", ctr + ["--namespace", namespace, "tasks", "delete", "--force", task])
            }
        }
    }

    /// runc's state lives outside `directory` (/run/containerd/runc/NAMESPACE/ID); the rootfs
    /// check keeps other containerds' containers out of reach.
    private func forceDeleteRuncContainers() {
        let base = "/run/containerd/runc"
        for namespace in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] {
            let runcRoot = base + "/" + namespace
            for id in (try? FileManager.default.contentsOfDirectory(atPath: runcRoot)) ?? [] {
                guard let state = try? String(contentsOfFile: "\(runcRoot)/\(id)/state.json", encoding: .utf8),
                      state.contains("\"rootfs\":\"\(directory)/") else { continue }
                _ = try? runCommand("runc", ["--root", runcRoot, "delete", "--force", id])
            }
        }
    }

    private func logTail() -> String {
        let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(20).joined(separator: "\n")
    }

    /// Container init pids, as the shims recorded them under our state folder.
    private func taskPIDs() -> [Int32] {
        guard let walker = FileManager.default.enumerator(atPath: state) else { return [] }
        var pids: [Int32] = []
        for case let path as String in walker where path.hasSuffix("/init.pid") {
            if let text = try? String(contentsOfFile: state + "/" + path, encoding: .utf8),
               let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1 {
                pids.append(pid)
            }
        }
        return pids
    }

    /// Shims whose command line names our socket.
    private func shimPIDs() -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry),
                  let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let argv = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let first = argv.first, first.split(separator: "/").last?.hasPrefix("containerd-shim") == true,
                  argv.contains(socket) else { return nil }
            return pid
        }
    }

    private func unmountAll() {
        for _ in 0..<3 {
            let mounts = ((try? readProcFile("/proc/mounts")) ?? "")
                .split(separator: "\n")
                .compactMap { line -> String? in
                    let fields = line.split(separator: " ")
                    guard fields.count > 1 else { return nil }
                    let point = fields[1].replacingOccurrences(of: "\\040", with: " ")
                    return point.hasPrefix(directory + "/") ? point : nil
                }
                .sorted(by: >)
            if mounts.isEmpty { return }
            for point in mounts where umount2(point, 0) != 0 {
                umount2(point, Int32(MNT_DETACH))
            }
        }
    }
}

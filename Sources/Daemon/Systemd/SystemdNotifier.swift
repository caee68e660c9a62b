import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// sd_notify(3) without libsystemd: each call sends one datagram to the unix socket named by
/// `$NOTIFY_SOCKET` (a path, or an abstract name written `@name`). Without that variable (not run by
/// systemd, or not `Type=notify`) every call does nothing. Sending never throws and never blocks for
/// long: systemd's socket is a datagram socket and a lost notification is not worth failing over.
///
/// With `NotifyAccess=main` systemd accepts messages from berthd's main process only, which is this
/// process: notifications may be sent from any thread.
public struct SystemdNotifier: Sendable {
    /// `$NOTIFY_SOCKET` when it names a path or an abstract socket; nil otherwise.
    public let socketPath: String?
    /// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, as sd_watchdog_enabled(3) advises.
    /// Nil when the unit has no `WatchdogSec=` or `$WATCHDOG_PID` names another process.
    public let watchdogInterval: Duration?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.init(environment: environment, processID: getpid())
    }

    init(environment: [String: String], processID: pid_t) {
        if let path = environment["NOTIFY_SOCKET"], path.hasPrefix("/") || (path.hasPrefix("@") && path.count > 1) {
            socketPath = path
        } else {
            socketPath = nil
        }
        watchdogInterval = Self.watchdogInterval(environment: environment, processID: processID)
    }

    /// Whether notifications go anywhere.
    public var isEnabled: Bool { socketPath != nil }

    /// `READY=1`: startup is done (for berthd: the API serves and recovery has finished).
    public func ready(status: String? = nil) {
        send(["READY=1"] + (status.map { ["STATUS=" + Self.oneLine($0)] } ?? []))
    }

    /// `STOPPING=1`: shutdown has begun.
    public func stopping() {
        send(["STOPPING=1"])
    }

    /// `STATUS=…`: a line `systemctl status` shows.
    public func status(_ text: String) {
        send(["STATUS=" + Self.oneLine(text)])
    }

    /// `WATCHDOG=1`: still alive.
    public func watchdog() {
        send(["WATCHDOG=1"])
    }

    /// `EXTEND_TIMEOUT_USEC=…`: asks for this much more time to start or stop from now (a long
    /// recovery), beyond `TimeoutStartSec=` / `TimeoutStopSec=`.
    public func extendTimeout(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let microseconds = max(0, seconds) * 1_000_000 + max(0, attoseconds) / 1_000_000_000_000
        send(["EXTEND_TIMEOUT_USEC=\(microseconds)"])
    }

    /// Sends `assignments` (`KEY=VALUE`) as one datagram, one per line. Returns whether it was sent;
    /// false when disabled or the socket refused it.
    @discardableResult
    public func send(_ assignments: [String]) -> Bool {
        guard let socketPath else { return false }
        return Self.sendDatagram(assignments.joined(separator: "\n"), to: socketPath)
    }

    // MARK: - Implementation

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    static func watchdogInterval(environment: [String: String], processID: pid_t) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let microseconds = UInt64(text), microseconds > 0,
              microseconds <= UInt64(Int64.max / 1000)
        else { return nil }
        if let pidText = environment["WATCHDOG_PID"], !pidText.isEmpty {
            guard let pid = pid_t(pidText), pid == processID else { return nil }
        }
        return .microseconds(Int64(microseconds / 2))
    }

    static func sendDatagram(_ message: String, to path: String) -> Bool {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(path.utf8)
        let isAbstract = pathBytes.first == UInt8(ascii: "@")
        if isAbstract { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        // A path needs room for its terminating NUL; an abstract name is counted exactly.
        guard pathBytes.count + (isAbstract ? 0 : 1) <= capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: pathBytes)
        }
        let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + pathBytes.count + (isAbstract ? 0 : 1)

        #if canImport(Glibc)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_DGRAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }

        let bytes = Array(message.utf8)
        while true {
            let sent = bytes.withUnsafeBytes { buffer in
                withUnsafePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                        sendto(fd, buffer.baseAddress, buffer.count, 0, socketAddress, socklen_t(length))
                    }
                }
            }
            if sent >= 0 { return sent == bytes.count }
            if errno != EINTR { return false }
        }
    }
}

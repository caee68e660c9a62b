import Daemon
import Foundation
import Logging
import ServiceLifecycle
import XCTest

/// A unix datagram socket standing in for systemd's notify socket.
final class NotifySocket: @unchecked Sendable {
    let fd: Int32
    /// What NOTIFY_SOCKET should say: the path, or "@name" for an abstract socket.
    let address: String

    init(path: String) throws {
        fd = try Self.makeSocket()
        address = path
        try bind(Array(path.utf8) + [0])
    }

    init(abstractName: String) throws {
        fd = try Self.makeSocket()
        address = "@" + abstractName
        try bind([0] + Array(abstractName.utf8))
    }

    deinit { close(fd) }

    static func makeSocket() throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        return fd
    }

    private func bind(_ nameBytes: [UInt8]) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: nameBytes) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + nameBytes.count)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        guard result == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
    }

    /// The next datagram, waiting up to `timeout` milliseconds; nil when none came.
    func receive(timeout: Int32 = 0) -> String? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeout) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }

    /// Every datagram waiting now.
    func drain() -> [String] {
        var messages: [String] = []
        while let message = receive() { messages.append(message) }
        return messages
    }
}

final class SystemdNotifierTests: XCTestCase {
    func testWithoutNotifySocketNothingIsSent() {
        let notifier = SystemdNotifier(environment: [:])
        XCTAssertFalse(notifier.isEnabled)
        XCTAssertNil(notifier.socketPath)
        XCTAssertFalse(notifier.send(["READY=1"]))
        notifier.ready(status: "serving")
        notifier.stopping()
        notifier.watchdog()
        XCTAssertFalse(SystemdNotifier(environment: ["NOTIFY_SOCKET": ""]).isEnabled)
        XCTAssertFalse(SystemdNotifier(environment: ["NOTIFY_SOCKET": "relative/path"]).isEnabled)
        XCTAssertFalse(SystemdNotifier(environment: ["NOTIFY_SOCKET": "@"]).isEnabled)
    }

    func testSendsExactlyTheExpectedDatagramsToAPathSocket() throws {
        let folder = try TemporaryFolder()
        let socket = try NotifySocket(path: folder.path + "/notify.sock")
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.address])
        XCTAssertTrue(notifier.isEnabled)

        notifier.ready(status: "serving 3 containers")
        notifier.ready()
        notifier.status("recovering\n2 of 3")
        notifier.watchdog()
        notifier.extendTimeout(by: .seconds(90))
        notifier.stopping()
        XCTAssertEqual(socket.drain(), [
            "READY=1\nSTATUS=serving 3 containers",
            "READY=1",
            "STATUS=recovering 2 of 3",
            "WATCHDOG=1",
            "EXTEND_TIMEOUT_USEC=90000000",
            "STOPPING=1",
        ])
    }

    func testSendsToAnAbstractSocket() throws {
        let socket = try NotifySocket(abstractName: "berth-notify-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.address])
        XCTAssertTrue(notifier.isEnabled)
        XCTAssertTrue(notifier.send(["READY=1"]))
        notifier.stopping()
        XCTAssertEqual(socket.drain(), ["READY=1", "STOPPING=1"])
    }

    func testASocketThatIsGoneIsNotAnError() throws {
        let folder = try TemporaryFolder()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": folder.path + "/nobody-listens.sock"])
        XCTAssertTrue(notifier.isEnabled)
        XCTAssertFalse(notifier.send(["READY=1"]))
        let tooLong = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/" + String(repeating: "x", count: 200)])
        XCTAssertFalse(tooLong.send(["READY=1"]))
    }

    func testWatchdogInterval() {
        let pid = String(getpid())
        XCTAssertEqual(SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000"]).watchdogInterval, .seconds(15))
        XCTAssertEqual(SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": pid]).watchdogInterval, .seconds(15))
        XCTAssertEqual(SystemdNotifier(environment: ["WATCHDOG_USEC": "1001"]).watchdogInterval, .microseconds(500))
        XCTAssertNil(SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": String(getpid() + 1)]).watchdogInterval)
        XCTAssertNil(SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "x"]).watchdogInterval)
        XCTAssertNil(SystemdNotifier(environment: ["WATCHDOG_USEC": "0"]).watchdogInterval)
        XCTAssertNil(SystemdNotifier(environment: ["WATCHDOG_USEC": "-5"]).watchdogInterval)
        XCTAssertNil(SystemdNotifier(environment: ["WATCHDOG_USEC": "30s"]).watchdogInterval)
        XCTAssertNil(SystemdNotifier(environment: [:]).watchdogInterval)
    }

    func testWatchdogServicePingsUntilGracefulShutdown() async throws {
        let folder = try TemporaryFolder()
        let socket = try NotifySocket(path: folder.path + "/notify.sock")
        // WatchdogSec=0.1s: a ping every 50 ms.
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.address, "WATCHDOG_USEC": "100000"])
        XCTAssertEqual(notifier.watchdogInterval, .milliseconds(50))
        let group = ServiceGroup(configuration: .init(services: [WatchdogService(notifier: notifier)], logger: Logger(label: "test")))
        let running = Task { try await group.run() }

        var pings = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while pings < 3 && ContinuousClock.now < deadline {
            if let message = socket.receive(timeout: 100) {
                XCTAssertEqual(message, "WATCHDOG=1")
                pings += 1
            }
        }
        XCTAssertEqual(pings, 3)

        let shutdownStarted = ContinuousClock.now
        await group.triggerGracefulShutdown()
        try await running.value
        XCTAssertLessThan(ContinuousClock.now - shutdownStarted, .seconds(2), "the service stops at once, not after a sleep")
        try await Task.sleep(for: .milliseconds(150))
        XCTAssertTrue(socket.drain().allSatisfy { $0 == "WATCHDOG=1" })
        XCTAssertNil(socket.receive(timeout: 150), "no pings after shutdown")
    }

    func testWatchdogServiceWithoutAWatchdogWaitsForGracefulShutdown() async throws {
        let folder = try TemporaryFolder()
        let socket = try NotifySocket(path: folder.path + "/notify.sock")
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.address])
        XCTAssertNil(notifier.watchdogInterval)
        let group = ServiceGroup(configuration: .init(services: [WatchdogService(notifier: notifier)], logger: Logger(label: "test")))
        let finished = ManagedFlag()
        let running = Task {
            try await group.run()
            finished.set()
        }
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertFalse(finished.value, "returning early would end the ServiceGroup")
        await group.triggerGracefulShutdown()
        try await running.value
        XCTAssertTrue(finished.value)
        XCTAssertEqual(socket.drain(), [])
    }
}

final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    var value: Bool { lock.withLock { flag } }
    func set() { lock.withLock { flag = true } }
}

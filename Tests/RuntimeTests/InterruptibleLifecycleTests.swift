import BerthModel
import ContainerdClient
import Foundation
import Runtime
import TestSupport
import XCTest

/// A newer intent supersedes the running one, against real containerd: a delete cancels a pull
/// that hangs, a stop during a wake runs after it, and a wake during an idle stop waits for the
/// stop and then starts the container.
final class InterruptibleLifecycleTests: XCTestCase {
    func testDeleteDuringAStalledPullReturnsInUnderASecond() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        // A "registry" that completes TCP handshakes (the kernel does, from the backlog) and
        // never says a word.
        let silent = try SilentListener()
        defer { silent.close() }
        f.extraRegistries = ["127.0.0.1:\(silent.port)"]
        let d = try f.deployment("stalled", image: "127.0.0.1:\(silent.port)/berth/stalled:1")
        try await f.withRuntime { runtime, containerd in
            runtime.deploy(d)
            let pulling = try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(20)) { $0.phase == .pulling }
            XCTAssertEqual(pulling.message, "pulling 127.0.0.1:\(silent.port)/berth/stalled:1", "the status says what it waits for")
            try await Task.sleep(for: .milliseconds(500))
            XCTAssertEqual(runtime.status(d.runtimeID)?.phase, .pulling, "the pull hangs")

            let elapsed = try await ContinuousClock().measure { try await runtime.delete(d.runtimeID) }

            XCTAssertLessThan(elapsed, .seconds(1), "the delete cancels the pull instead of waiting behind it")
            XCTAssertNil(runtime.status(d.runtimeID))
            let left = try await containerd.container(id: d.runtimeID)
            XCTAssertNil(left)
        }
    }

    func testAPullThatHangsFailsAtItsDeadlineAndIsRetried() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        f.pullTimeout = .seconds(1)
        let silent = try SilentListener()
        defer { silent.close() }
        f.extraRegistries = ["127.0.0.1:\(silent.port)"]
        let d = try f.deployment("deadline", image: "127.0.0.1:\(silent.port)/berth/deadline:1")
        try await f.withRuntime { runtime, _ in
            runtime.deploy(d)
            let failed = try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(10)) { $0.phase == .failed }
            XCTAssertEqual(failed.reason, .imagePullError)
            XCTAssertTrue(failed.message?.contains("no answer within 1.0 seconds") ?? false, failed.message ?? "")
            XCTAssertTrue(failed.message?.contains("retrying in") ?? false, failed.message ?? "")
            // After the back-off it pulls again.
            try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(10)) { $0.phase == .pulling }
        }
    }

    func testAStopDuringAWakeRunsAfterItAndIsNotLost() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        // Listens only after 3 s: the wake is still waiting for its port when the stop comes.
        let d = try f.deployment("woken", image: try await f.pushShell("berth/rt-woken", "sleep 3; exec httpd -f -p 80 -h /www"))
        try await f.withRuntime { runtime, containerd in
            let wake = Task { await runtime.wake(d, timeout: .seconds(60)) }
            // The wake is under way: its task is being made or probed.
            try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(60)) { $0.phase == .starting }
            await runtime.stop(d.runtimeID)

            XCTAssertEqual(runtime.status(d.runtimeID)?.phase, .stopped)
            let woken = await wake.value
            XCTAssertNotNil(woken, "the wake was answered, not left to time out")
            XCTAssertNotEqual(woken?.phase, .running, "the stop came after the wake: the waker learns it was stopped")
            let task = try await containerd.task(containerID: d.runtimeID)
            XCTAssertNil(task, "the task the wake started is gone")
            // Nothing restarts it behind the stop's back.
            try await Task.sleep(for: .seconds(1))
            XCTAssertEqual(runtime.status(d.runtimeID)?.phase, .stopped)
            XCTAssertNil(runtime.status(d.runtimeID)?.address, "its address is released")
        }
    }

    func testAWakeDuringAnIdleStopWaitsForTheStopThenStartsTheContainer() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        f.grace = .seconds(2)
        // Ignores SIGTERM: the stop takes the whole grace period.
        let image = TestImage(layers: [.busybox(extraFiles: ["/www/index.html": "awake\n"])],
                              cmd: ["sh", "-c", #"trap 'echo ignoring TERM' TERM; httpd -p 80 -h /www; while true; do sleep 0.1; done"#])
        let reference = try await TestRegistry.push(image, to: f.env.registry, repository: "berth/rt-sleepy", tag: "1").reference
        let d = try f.deployment("sleepy", image: reference)
        try await f.withRuntime { runtime, _ in
            runtime.deploy(d)
            let first = try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(60)) { $0.phase == .running }
            let clock = ContinuousClock()
            let stopStarted = clock.now
            let stop = Task {
                await runtime.stop(d.runtimeID)
                return ContinuousClock.now
            }
            let stopping = try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(5)) { $0.phase == .stopped }
            XCTAssertTrue(stopping.message?.hasPrefix("stopping") ?? false, stopping.message ?? "")

            let woken = await runtime.wake(d, timeout: .seconds(60))
            let wokenAt = clock.now

            let stopEnded = await stop.value
            XCTAssertEqual(woken?.phase, .running, woken?.message ?? "")
            XCTAssertLessThan(stopEnded, wokenAt, "the stop finished first")
            XCTAssertGreaterThanOrEqual(stopEnded - stopStarted, .seconds(2), "the stop took its grace period")
            XCTAssertNotEqual(woken?.pid, first.pid, "a new task")
            let page = try await httpGet(try XCTUnwrap(woken?.address))
            XCTAssertEqual(page, "awake\n")
        }
    }
}

/// A TCP listener on 127.0.0.1 that never accepts: connections complete in the kernel's backlog
/// and then hear nothing.
final class SilentListener: @unchecked Sendable {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound, listen(fd, 64) == 0 else {
            _ = Glibc.close(fd)
            throw TestSupportError("bind/listen: \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() {
        _ = Glibc.close(fd)
    }
}

import BerthModel
import ContainerdClient
import Foundation
import Runtime
import TestSupport
import XCTest

final class LifecycleTests: XCTestCase {
    func testRunningContainerHasItsLimitsPortAndHostname() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        let image = try await f.pushHTTPD("berth/rt-limits")
        let d = try f.deployment("limits", image: image, cpu: 0.5, memory: "64Mi", env: ["GREETING": "hi"])
        try await f.withRuntime { runtime, _ in
            runtime.deploy(d)
            let status = try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(60)) { $0.phase == .running }
            let pid = try XCTUnwrap(status.pid)
            let address = try XCTUnwrap(status.address)
            let page = try await httpGet(address)

            XCTAssertEqual(page, "hello from berth\n")

            let memory = try String(contentsOfFile: "/sys/fs/cgroup/memory/berth/\(d.runtimeID)/memory.limit_in_bytes", encoding: .utf8)
            XCTAssertEqual(memory.trimmingCharacters(in: .whitespacesAndNewlines), "67108864")
            let quota = try String(contentsOfFile: "/sys/fs/cgroup/cpu/berth/\(d.runtimeID)/cpu.cfs_quota_us", encoding: .utf8)
            XCTAssertEqual(quota.trimmingCharacters(in: .whitespacesAndNewlines), "50000")
            let period = try String(contentsOfFile: "/sys/fs/cgroup/cpu/berth/\(d.runtimeID)/cpu.cfs_period_us", encoding: .utf8)
            XCTAssertEqual(period.trimmingCharacters(in: .whitespacesAndNewlines), "100000")

            let environ = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))
                .split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            XCTAssertTrue(environ.contains("PORT=80"), "\(environ)")
            XCTAssertTrue(environ.contains("GREETING=hi"), "\(environ)")
            let hostname = try String(contentsOfFile: "/proc/\(pid)/root/etc/hostname", encoding: .utf8)
            XCTAssertEqual(hostname, "limits\n")
            let hosts = try String(contentsOfFile: "/proc/\(pid)/root/etc/hosts", encoding: .utf8)
            XCTAssertTrue(hosts.contains("\(address)\tlimits"), hosts)
        }
    }

    func testTwoContainersOnPort80AnswerOnTheirOwnAddresses() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        let one = try f.deployment("one", image: try await f.pushHTTPD("berth/rt-one", page: "one\n"))
        let two = try f.deployment("two", image: try await f.pushHTTPD("berth/rt-two", page: "two\n"))
        try await f.withRuntime { runtime, _ in
            runtime.deploy(one)
            runtime.deploy(two)
            let a = try await runtime.waitForStatus(one.runtimeID, timeout: .seconds(60)) { $0.phase == .running }
            let b = try await runtime.waitForStatus(two.runtimeID, timeout: .seconds(60)) { $0.phase == .running }
            XCTAssertNotEqual(a.address, b.address)
            let pageOne = try await httpGet(try XCTUnwrap(a.address))

            XCTAssertEqual(pageOne, "one\n")
            let pageTwo = try await httpGet(try XCTUnwrap(b.address))

            XCTAssertEqual(pageTwo, "two\n")
        }
    }

    func testStopSendsSIGTERMFirstAndSIGKILLAfterTheGracePeriod() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        f.grace = .seconds(2)
        let polite = try f.deployment("polite", image: try await f.pushShell("berth/rt-polite",
            #"trap 'echo got TERM; exit 0' TERM; httpd -p 80 -h /www; while true; do sleep 0.1; done"#))
        let stubborn = try f.deployment("stubborn", image: try await f.pushShell("berth/rt-stubborn",
            #"trap 'echo ignoring TERM' TERM; httpd -p 80 -h /www; while true; do sleep 0.1; done"#))
        try await f.withRuntime { runtime, _ in
            runtime.deploy(polite)
            runtime.deploy(stubborn)
            try await runtime.waitForStatus(polite.runtimeID, timeout: .seconds(60)) { $0.phase == .running }
            try await runtime.waitForStatus(stubborn.runtimeID, timeout: .seconds(60)) { $0.phase == .running }

            let clock = ContinuousClock()
            let politeTime = await clock.measure { await runtime.stop(polite.runtimeID) }
            XCTAssertLessThan(politeTime, .seconds(1), "a process that exits on SIGTERM is not waited for")
            XCTAssertEqual(runtime.status(polite.runtimeID)?.phase, .stopped)
            let logs = try f.logs(polite.runtimeID)
            XCTAssertTrue(logs.contains("got TERM"), logs)

            let stubbornTime = await clock.measure { await runtime.stop(stubborn.runtimeID) }
            XCTAssertGreaterThanOrEqual(stubbornTime, .seconds(2), "SIGKILL only after the grace period")
            XCTAssertLessThan(stubbornTime, .seconds(6))
            XCTAssertTrue(try f.logs(stubborn.runtimeID).contains("ignoring TERM"))
            XCTAssertEqual(runtime.status(stubborn.runtimeID)?.phase, .stopped)

            // A stopped revision stays stopped on a deploy (the reconciler's pass), and starts
            // again on the next wake (a request).
            runtime.deploy(polite)
            try await Task.sleep(for: .milliseconds(300))
            XCTAssertEqual(runtime.status(polite.runtimeID)?.phase, .stopped)
            let woken = await runtime.wake(polite, timeout: .seconds(60))
            XCTAssertEqual(woken?.phase, .running)
            // The board says so by the time the waker is told: the proxy routes from it at once.
            XCTAssertEqual(runtime.status(polite.runtimeID)?.phase, .running)
            XCTAssertNotNil(runtime.status(polite.runtimeID)?.endpoint)
        }
    }

    func testCrashingContainerRestartsWithGrowingDelaysAndReportsACrashLoop() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        f.backoff = .init(initial: .milliseconds(400), max: .seconds(3), resetAfter: .seconds(60))
        let d = try f.deployment("crasher", image: try await f.pushShell("berth/rt-crash", "echo boom >&2; exit 3"))
        try await f.withRuntime { runtime, _ in
            let changes = StatusRecorder()
            let watcher = Task { await changes.record(runtime, d.runtimeID) }
            defer { watcher.cancel() }
            runtime.deploy(d)
            let looping = try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(30)) { $0.restarts >= 4 }
            XCTAssertEqual(looping.reason, .crashLoop)
            XCTAssertEqual(looping.lastExitCode, 3)
            XCTAssertTrue(looping.message?.contains("exited with code 3") ?? false, looping.message ?? "")
            XCTAssertTrue(looping.message?.contains("boom") ?? false, "the last log lines are in the message: \(looping.message ?? "")")

            // Starts happen after 0.4, 0.8, 1.6 s…: each gap longer than the one before.
            let starts = await changes.instants { $0.phase == .starting }
            XCTAssertGreaterThanOrEqual(starts.count, 4)
            let gaps = zip(starts.dropFirst(), starts).map { $0 - $1 }
            for (earlier, later) in zip(gaps, gaps.dropFirst()) {
                XCTAssertGreaterThan(later, earlier + .milliseconds(200), "gaps: \(gaps)")
            }
        }
    }

    func testOOMKillIsReported() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        f.backoff = .init(initial: .seconds(30), max: .seconds(30), resetAfter: .seconds(60))
        // tail keeps everything it reads when there is no newline: it grows until the limit.
        let d = try f.deployment("hungry", image: try await f.pushShell("berth/rt-oom", "httpd -p 80 -h /www; sleep 1; head -c 256m /dev/zero | tail"),
                                 memory: "32Mi")
        try await f.withRuntime { runtime, _ in
            runtime.deploy(d)
            let failed = try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(60)) { $0.phase == .failed }
            XCTAssertEqual(failed.reason, .oomKilled, failed.message ?? "")
            XCTAssertTrue(failed.message?.contains("32Mi") ?? false, failed.message ?? "")
        }
    }

    func testWritingPastEphemeralStorageFailsWithENOSPCAndIsReported() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        f.backoff = .init(initial: .seconds(30), max: .seconds(30), resetAfter: .seconds(60))
        let d = try f.deployment("filler", image: try await f.pushShell("berth/rt-fill",
            "httpd -p 80 -h /www; sleep 1; dd if=/dev/zero of=/filler bs=1M count=256 2>/tmp/dd.err; cat /tmp/dd.err; exit 4"),
            storage: "16Mi")
        try await f.withRuntime { runtime, _ in
            runtime.deploy(d)
            let failed = try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(60)) { $0.phase == .failed }
            XCTAssertEqual(failed.reason, .ephemeralStorageExceeded, failed.message ?? "")
            let logs = try f.logs(d.runtimeID)
            XCTAssertTrue(logs.contains("No space left on device"), logs)
            // The writable layer's backing file holds at most its 16 MiB on the host.
            let image = f.dataDirectory + "/containers/\(d.runtimeID)/ephemeral.img"
            var info = stat()
            XCTAssertEqual(stat(image, &info), 0)
            XCTAssertLessThanOrEqual(Int64(info.st_blocks) * 512, 17 << 20)
        }
    }
}

extension RuntimeFixture {
    /// The revision's log lines so far.
    func logs(_ runtimeID: String) throws -> String {
        try ContainerLogs(configuration: LogConfiguration(directory: dataDirectory + "/logs"))
            .tail(containerID: runtimeID, lines: 1000).map(\.text).joined(separator: "\n")
    }
}

/// Every status change of one revision, with when it happened.
actor StatusRecorder {
    private var changes: [(ContinuousClock.Instant, RuntimeStatus)] = []

    func record(_ runtime: ContainerRuntime, _ runtimeID: String) async {
        var previous: RuntimeStatus.Phase?
        while !Task.isCancelled {
            if let status = runtime.status(runtimeID), status.phase != previous {
                previous = status.phase
                changes.append((.now, status))
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    func instants(where predicate: (RuntimeStatus) -> Bool) -> [ContinuousClock.Instant] {
        changes.filter { predicate($0.1) }.map(\.0)
    }
}

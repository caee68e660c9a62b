import Foundation
import HostProcess
import XCTest

/// The one runner for host tools, with real children (/bin/sh, cat, sleep).
final class HostProcessTests: XCTestCase {
    func testCollectsOutputsAndTheExitStatus() async throws {
        let output = try await HostProcess.run("/bin/sh", arguments: ["-c", "echo out; echo err >&2; exit 3"], timeout: .seconds(10))
        XCTAssertEqual(output.stdoutText, "out\n")
        XCTAssertEqual(output.stderrText, "err\n")
        XCTAssertEqual(output.exitStatus, 3)
        XCTAssertNil(output.signal)
        XCTAssertFalse(output.timedOut)
        XCTAssertFalse(output.succeeded)
    }

    func testFeedsStdinAndDrainsLargeOutputs() async throws {
        // More than a pipe holds, both ways: neither side may block the other.
        let input = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0) })
        let output = try await HostProcess.run("/bin/sh", arguments: ["-c", "cat; head -c 300000 /dev/zero >&2"], stdin: input,
                                               timeout: .seconds(20))
        XCTAssertTrue(output.succeeded)
        XCTAssertEqual(output.stdout, input)
        XCTAssertEqual(output.stderr.count, 300_000)
    }

    func testTheDeadlineKillsTheChildAndTheCallerGetsItsAnswer() async throws {
        let started = ContinuousClock.now
        let output = try await HostProcess.run("/bin/sleep", arguments: ["30"], timeout: .milliseconds(300))
        XCTAssertTrue(output.timedOut)
        XCTAssertEqual(output.signal, SIGKILL)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
        // Output held open by a grandchild does not outlast the deadline either, and the
        // grandchild (in the child's process group) is killed with it.
        let held = try await HostProcess.run("/bin/sh", arguments: ["-c", "sleep 30 & echo $!"], timeout: .milliseconds(500))
        XCTAssertTrue(held.timedOut)
        let grandchild = try XCTUnwrap(Int32(held.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)))
        var gone = false
        for _ in 0..<100 where !gone {
            // Killed, then reaped by init: no such process (or a zombie for a moment).
            let state = (try? String(contentsOfFile: "/proc/\(grandchild)/stat", encoding: .utf8)) ?? ""
            gone = state.isEmpty || state.contains(") Z ")
            if !gone { usleep(20_000) }
        }
        XCTAssertTrue(gone, "the grandchild \(grandchild) outlived the deadline")
    }

    func testEnvironmentIsExactlyTheOneGiven() async throws {
        let output = try await HostProcess.run("/usr/bin/env", environment: ["ONLY=this"], timeout: .seconds(10))
        XCTAssertEqual(output.stdoutText, "ONLY=this\n")
    }

    func testCheckThrowsWithTheToolsMessage() async throws {
        let text = try await HostProcess.check("/bin/sh", ["-c", "printf ok"], timeout: .seconds(10))
        XCTAssertEqual(text, "ok")
        do {
            try await HostProcess.check("/bin/sh", ["-c", "echo broken >&2; exit 2"], timeout: .seconds(10))
            XCTFail("no failure")
        } catch let failure as HostProcess.Failure {
            XCTAssertEqual(failure.description, "/bin/sh -c echo broken >&2; exit 2 failed (status 2): broken")
        }
    }

    func testAMissingExecutableIsASpawnError() async throws {
        do {
            _ = try await HostProcess.run("/nonexistent/tool", timeout: .seconds(5))
            XCTFail("it ran")
        } catch let error as HostProcess.SpawnError {
            XCTAssertEqual(error.errno, ENOENT)
        }
    }

    func testRunBlockingForSynchronousCallers() throws {
        let output = try HostProcess.runBlocking("/bin/sh", arguments: ["-c", "echo $0", "x"], timeout: .seconds(10))
        XCTAssertEqual(output.stdoutText, "x\n")
        // The caller's thread is not left with SIGPIPE blocked or pending.
        let early = try HostProcess.runBlocking("/bin/true", stdin: Data(count: 1 << 20), timeout: .seconds(10))
        XCTAssertTrue(early.succeeded)
    }
}

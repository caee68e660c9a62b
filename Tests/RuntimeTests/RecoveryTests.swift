import ContainerdClient
import Foundation
import Runtime
import TestSupport
import XCTest

final class RecoveryTests: XCTestCase {
    /// berthd dies without stopping anything (its service task is torn down, as kill -9 would
    /// leave it); a new runtime with new connections adopts the running task as it is.
    func testANewRuntimeAdoptsTheRunningTaskWithTheSamePid() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        let d = try f.deployment("survivor", image: try await f.pushHTTPD("berth/rt-survivor"))
        let first = try await f.withRuntime(cleanUp: false) { runtime, _ in
            runtime.deploy(d)
            return try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(60)) { $0.phase == .running }
        }
        let pid = try XCTUnwrap(first.pid)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "/proc/\(pid)"), "the container outlives the runtime")

        try await f.withRuntime { runtime, _ in
            let report = try await runtime.recover(desired: [d])
            XCTAssertEqual(report.adopted, [d.runtimeID])
            XCTAssertEqual(report.removed, [])
            let adopted = try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(30)) { $0.phase == .running }
            XCTAssertEqual(adopted.pid, pid, "not restarted")
            XCTAssertEqual(adopted.address, first.address)
            let page = try await httpGet(try XCTUnwrap(adopted.address))

            XCTAssertEqual(page, "hello from berth\n")

            // The adopted task is supervised: when it dies, it is restarted.
            kill(pid_t(pid), SIGKILL)
            let restarted = try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(30)) { $0.phase == .running && $0.pid != pid }
            XCTAssertNotNil(restarted.pid)
        }
    }

    func testRecoveryRemovesWhatNothingAsksForAndStartsWhatIsMissing() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        let image = try await f.pushHTTPD("berth/rt-orphans")
        let orphan = try f.deployment("orphan", image: image)
        let wanted = try f.deployment("wanted", image: image)
        try await f.withRuntime(cleanUp: false) { runtime, _ in
            runtime.deploy(orphan)
            try await runtime.waitForStatus(orphan.runtimeID, timeout: .seconds(60)) { $0.phase == .running }
        }
        try await f.withRuntime { runtime, client in
            let report = try await runtime.recover(desired: [wanted])
            XCTAssertEqual(report.removed, [orphan.runtimeID])
            XCTAssertEqual(report.started, [wanted.runtimeID])
            let container = try await client.container(id: orphan.runtimeID)
            XCTAssertNil(container)
            XCTAssertFalse(FileManager.default.fileExists(atPath: f.netnsDirectory + "/berth-\(orphan.runtimeID)"))
            XCTAssertFalse(FileManager.default.fileExists(atPath: f.dataDirectory + "/containers/\(orphan.runtimeID)"))
            try await runtime.waitForStatus(wanted.runtimeID, timeout: .seconds(60)) { $0.phase == .running }
        }
    }

    /// containerd restarts under a running container: the task survives (it belongs to its shim),
    /// the runtime resubscribes to events, and a later crash is still seen and restarted.
    func testAContainerdRestartIsSurvived() async throws {
        let env = try TestEnvironment.current()
        let containerd = try ContainerdProcess(directory: try env.makeTemporaryDirectory("rt-containerd"))
        try await containerd.start()
        defer { containerd.cleanup() }
        let f = try RuntimeFixture(socket: containerd.socket)
        defer { f.removeBridge() }
        let d = try f.deployment("steady", image: try await f.pushHTTPD("berth/rt-steady"))
        do {
            try await f.withRuntime { runtime, _ in
                runtime.deploy(d)
                let before = try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(60)) { $0.phase == .running }
                let pid = try XCTUnwrap(before.pid)
                try await containerd.restart()
                try await Task.sleep(for: .seconds(1))
                XCTAssertEqual(runtime.status(d.runtimeID)?.phase, .running)
                XCTAssertEqual(runtime.status(d.runtimeID)?.pid, pid)
                let page = try await httpGet(try XCTUnwrap(before.address))

                XCTAssertEqual(page, "hello from berth\n")

                kill(pid_t(pid), SIGKILL)
                let after = try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(30)) { $0.phase == .running && $0.pid != pid }
                XCTAssertNotNil(after.pid)
            }
        } catch {
            try? await containerd.stop()
            throw error
        }
        try await containerd.stop()
    }
}

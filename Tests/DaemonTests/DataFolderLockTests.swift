import Daemon
import Foundation
import XCTest

/// One berthd per data folder: flock(2) on `<data>/berthd.lock`.
final class DataFolderLockTests: XCTestCase {
    func makeFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("berth-lock-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testASecondHolderFailsAtOnceNamingTheFirstPidAndThePath() throws {
        let folder = try makeFolder()
        let first = try DataFolderLock(dataDirectory: folder)
        XCTAssertTrue(first.isHeld)
        let started = ContinuousClock.now
        XCTAssertThrowsError(try DataFolderLock(dataDirectory: folder)) { error in
            XCTAssertEqual("\(error)", "another berthd (pid \(getpid())) holds \(folder)/berthd.lock: one berthd per data folder")
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1), "fails at once, does not wait")
        XCTAssertEqual(try String(contentsOfFile: folder + "/berthd.lock", encoding: .utf8), "\(getpid())\n")
        withExtendedLifetime(first) {}
    }

    func testReleasedLockCanBeTakenAgain() throws {
        let folder = try makeFolder()
        let first = try DataFolderLock(dataDirectory: folder)
        first.release()
        first.release()
        XCTAssertFalse(first.isHeld)
        let second = try DataFolderLock(dataDirectory: folder)
        XCTAssertTrue(second.isHeld)
    }

    func testTheLockGoesWithItsOwner() throws {
        let folder = try makeFolder()
        do { _ = try DataFolderLock(dataDirectory: folder) }
        XCTAssertNoThrow(try DataFolderLock(dataDirectory: folder), "a lock nobody holds is free, its file left behind")
    }

    func testAnotherProcessHoldingItIsNamed() throws {
        let folder = try makeFolder()
        // flock(1) from util-linux holds the lock in a child process for a while.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = ["--exclusive", folder + "/berthd.lock", "/bin/sleep", "5"]
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        let deadline = Date().addingTimeInterval(5)
        var message = ""
        while Date() < deadline {
            do {
                let lock = try DataFolderLock(dataDirectory: folder)
                lock.release()
                usleep(20_000)
            } catch {
                message = "\(error)"
                break
            }
        }
        XCTAssertTrue(message.hasPrefix("another berthd (pid "), message)
        XCTAssertTrue(message.contains("holds \(folder)/berthd.lock"), message)
    }
}

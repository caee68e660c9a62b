import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// The data folder on a small filesystem of its own (a 32 MiB ext4 image on a loop device the
/// test makes and removes), filled up: writes answer 507 or 503, nothing is half-written, and
/// once space is back the same requests work.
final class DiskFullTests: XCTestCase {
    /// A loop-mounted ext4 image of `megabytes`, removed (unmounted, loop device freed) by `remove`.
    struct SmallDisk {
        let image: String
        let mountPoint: String

        init(in folder: String, megabytes: Int) throws {
            image = folder + "/disk.img"
            mountPoint = folder + "/data"
            try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
            try runCommand("truncate", ["-s", "\(megabytes)M", image])
            try runCommand("/sbin/mkfs.ext4", ["-q", "-F", "-m", "0", image])
            try runCommand("/bin/mount", ["-o", "loop", image, mountPoint])
        }

        /// The loop devices backing the image ("/dev/loopN"), from losetup.
        var loopDevices: [String] {
            ((try? runCommand("/sbin/losetup", ["-n", "-O", "NAME", "-j", image])) ?? "")
                .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }

        /// Writes zeros until the filesystem is full.
        func fill() {
            _ = try? runCommand("/bin/dd", ["if=/dev/zero", "of=\(mountPoint)/filler", "bs=1M"])
            _ = try? runCommand("/bin/dd", ["if=/dev/zero", "of=\(mountPoint)/filler-small", "bs=4k"])
            sync()
        }

        func free() throws {
            try FileManager.default.removeItem(atPath: mountPoint + "/filler")
            try? FileManager.default.removeItem(atPath: mountPoint + "/filler-small")
            sync()
        }

        func remove() {
            for _ in 0..<20 {
                if (try? runCommand("/bin/umount", [mountPoint])) != nil { break }
                usleep(200_000)
            }
            for device in loopDevices { _ = try? runCommand("/sbin/losetup", ["-d", device]) }
        }
    }

    func testFullDataDiskAnswers507Or503AndWritesNothingHalfWay() async throws {
        let env = try TestEnvironment.current()
        let disk = try SmallDisk(in: try env.makeTemporaryDirectory("fault-disk"), megabytes: 32)
        var loopRemoved = false
        defer { if !loopRemoved { disk.remove() } }
        XCTAssertEqual(disk.loopDevices.count, 1, "mount -o loop made one loop device")
        let f = try NodeFixture { $0.dataDirectory = disk.mountPoint }
        let berthd = try BerthdProcess(f, extraArguments: ["--idle-pause-after", "0s", "--idle-stop-after", "0s",
                                                          "--stop-grace-period", "500ms", "--node-storage", "1Pi"])
        let token = try await f.token("fault", roles: ["ADMIN"])
        try await berthd.start()
        do {
            try await fillAndRecover(berthd, disk: disk, token: token)
        } catch {
            await berthd.tearDown(token: token)
            throw error
        }
        await berthd.tearDown(token: token)
        disk.remove()
        loopRemoved = true
        XCTAssertEqual(disk.loopDevices, [], "the test's loop device is gone")
        XCTAssertFalse(((try? readProcFile("/proc/mounts")) ?? "").contains(disk.mountPoint))
    }

    private func fillAndRecover(_ berthd: BerthdProcess, disk: SmallDisk, token: String) async throws {
        let f = berthd.fixture
        let image = try await f.pushHTTPD("berth/fault-disk", page: "disk\n")
        let spec: [String: Any] = ["name": "disk-a", "image": image, "ram": "32Mi", "ephemeralStorage": "4Mi"]
        let a = try await f.deploy(spec, token: token)
        let before = try await HostInventory.take(berthd.scope(knownIDs: [a]))

        disk.fill()
        let created = try await f.request("POST", "/v1/containers", token: token,
                                          json: ["name": "disk-b", "image": image, "ram": "32Mi", "ephemeralStorage": "4Mi"])
        XCTAssertTrue([507, 503].contains(created.status), "POST on a full data disk: \(created.status) \(created.text)")
        XCTAssertEqual(created.headers["content-type"]?.hasPrefix("application/problem+json"), true, "\(created.headers)")
        let updated = try await f.request("PUT", "/v1/containers/\(a)", token: token, json: ["env": ["FULL": "1"]])
        XCTAssertTrue([507, 503].contains(updated.status), "PUT on a full data disk: \(updated.status) \(updated.text)")
        // Nothing half-written: no record of B, A still at revision 1, reads still work.
        let names = try await berthd.containers(token: token).compactMap { $0["name"] as? String }
        XCTAssertEqual(names, ["disk-a"])
        let (_, record) = try await berthd.container(a, token: token)
        XCTAssertEqual(record["revision"] as? Int, 1)
        XCTAssertEqual(record["status"] as? String, "running", "A keeps running while the disk is full")

        try disk.free()
        // A restart reads the database as it was: nothing half-written survived either.
        try await berthd.restart()
        let afterRestart = try await berthd.containers(token: token).compactMap { $0["name"] as? String }
        XCTAssertEqual(afterRestart, ["disk-a"])
        let b = try await f.deploy(["name": "disk-b", "image": image, "ram": "32Mi", "ephemeralStorage": "4Mi"], token: token)
        let put = try await f.request("PUT", "/v1/containers/\(a)", token: token, json: ["env": ["FULL": "0"]])
        XCTAssertEqual(put.status, 200, put.text)
        _ = try await berthd.awaitServing(a, name: "disk-a", page: "disk\n", revision: 2, token: token)
        let revisions = try await f.request("GET", "/v1/containers/\(a)/revisions", token: token).json()["revisions"] as? [[String: Any]] ?? []
        XCTAssertEqual(revisions.compactMap { $0["revision"] as? Int }, [2, 1], "the refused PUT used no revision number")

        for id in [a, b] {
            let deleted = try await f.request("DELETE", "/v1/containers/\(id)", token: token)
            XCTAssertEqual(deleted.status, 204)
            try await berthd.awaitGone(id, token: token)
        }
        let check = try await InventoryCheck.awaitClean(berthd, live: [:], knownIDs: [a, b], baseline: before)
        XCTAssertTrue(check.isClean, "after deleting both containers:\n\(check)")
    }
}

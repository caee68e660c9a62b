import BerthModel
import Foundation
import Store
import XCTest

/// The store's rules for volumes and secrets, inside the transactions that record revisions:
/// references name the owner's own, one writer or many readers, nothing in use is deleted, and
/// a new value names the containers to roll.
final class VolumeAndSecretRecordTests: XCTestCase {
    func spec(volumes: [VolumeMount] = [], secretEnv: [String: String] = [:], secretMounts: [SecretMount] = [],
              maxInstances: Int = 1) throws -> RevisionSpec {
        var spec = try sampleSpec()
        spec.volumes = volumes
        spec.secretEnv = secretEnv
        spec.secretMounts = secretMounts
        spec.scaling.maxInstances = maxInstances
        return spec
    }

    func testReferencesMustNameTheOwnersVolumesAndSecrets() throws {
        let database = try BerthDatabase.inMemory()
        _ = try database.createVolume(name: "data", owner: "alice", size: Quantity(bytes: 1 << 30))
        _ = try database.createSecret(owner: "alice", name: "hf", sealed: [1, 2, 3], size: 3)
        let mount = VolumeMount(name: "data", mountPath: "/data", readOnly: true)
        XCTAssertThrowsStoreError(try database.createContainer(name: "b", owner: "bob", spec: spec(volumes: [mount])),
                                  .invalidReference(field: "volumes[0].name", message: "you have no volume named \"data\""))
        XCTAssertThrowsStoreError(try database.createContainer(name: "b", owner: "bob", spec: spec(secretEnv: ["T": "hf"])),
                                  .invalidReference(field: "env.T", message: "you have no secret named \"hf\""))
        XCTAssertThrowsStoreError(try database.createContainer(name: "b", owner: "bob",
                                                               spec: spec(secretMounts: [SecretMount(secret: "hf", path: "/s")])),
                                  .invalidReference(field: "secretMounts[0].secret", message: "you have no secret named \"hf\""))
        XCTAssertEqual(try database.containers(owner: nil), [], "nothing recorded")
        XCTAssertNoThrow(try database.createContainer(name: "a", owner: "alice",
                                                      spec: spec(volumes: [mount], secretEnv: ["T": "hf"])))
    }

    func testAVolumeHasOneWriterOrManyReaders() throws {
        let database = try BerthDatabase.inMemory()
        let volume = try database.createVolume(name: "data", owner: "alice", size: Quantity(bytes: 1 << 30))
        let reader = VolumeMount(name: "data", mountPath: "/data", readOnly: true)
        let writer = VolumeMount(name: "data", mountPath: "/data", readOnly: false)
        let (one, _) = try database.createContainer(name: "r1", owner: "alice", spec: spec(volumes: [reader]))
        _ = try database.createContainer(name: "r2", owner: "alice", spec: spec(volumes: [reader]))
        XCTAssertThrowsError(try database.createContainer(name: "w", owner: "alice", spec: spec(volumes: [writer])))
        // A reader may not turn writer while another reads.
        XCTAssertThrowsError(try database.addRevision(containerID: one.id, spec: spec(volumes: [writer])))
        XCTAssertEqual(try database.volumeUsers(volume).map(\.containerName), ["r1", "r2"])
        XCTAssertThrowsError(try database.deleteVolume(volume)) { error in
            XCTAssertEqual(error as? StoreError, .inUse("volume \"data\" is mounted by containers \"r1\", \"r2\"; delete or update those containers first"))
        }
    }

    func testVolumesAreUniquePerOwnerAndReserveStorage() throws {
        let database = try BerthDatabase.inMemory()
        database.setCapacityPolicy(CapacityPolicy(node: ResourceLimits(ephemeralStorage: 20 << 30)))
        _ = try database.createVolume(name: "data", owner: "alice", size: Quantity(bytes: 8 << 30))
        XCTAssertThrowsStoreError(try database.createVolume(name: "data", owner: "alice", size: Quantity(bytes: 1 << 20)),
                                  .duplicate("you already have a volume named \"data\""))
        _ = try database.createVolume(name: "data", owner: "bob", size: Quantity(bytes: 8 << 30))
        XCTAssertThrowsError(try database.createVolume(name: "more", owner: "carol", size: Quantity(bytes: 8 << 30))) { error in
            guard case .overCapacity? = error as? StoreError else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try database.reserved().ephemeralStorage, 16 << 30)
        try database.deleteVolume(try XCTUnwrap(database.volume(owner: "bob", name: "data")))
        XCTAssertEqual(try database.reserved().ephemeralStorage, 8 << 30)
    }

    func testASecretInUseStaysAndANewValueNamesItsContainers() throws {
        let database = try BerthDatabase.inMemory()
        _ = try database.createSecret(owner: "alice", name: "hf", sealed: [1], size: 1)
        XCTAssertThrowsStoreError(try database.createSecret(owner: "alice", name: "hf", sealed: [2], size: 1),
                                  .duplicate("you already have a secret named \"hf\""))
        let (user, _) = try database.createContainer(name: "user", owner: "alice", spec: spec(secretMounts: [SecretMount(secret: "hf", path: "/s")]))
        _ = try database.createContainer(name: "other", owner: "alice", spec: spec())
        XCTAssertThrowsStoreError(try database.deleteSecret(owner: "alice", name: "hf"),
                                  .inUse("secret \"hf\" is used by container \"user\"; update or delete those containers first"))
        let (secret, users) = try database.replaceSecret(owner: "alice", name: "hf", sealed: [9, 9], size: 2)
        XCTAssertEqual(secret.version, 2)
        XCTAssertEqual(secret.sealed, [9, 9])
        XCTAssertEqual(users, [user.id])
        XCTAssertThrowsStoreError(try database.replaceSecret(owner: "bob", name: "hf", sealed: [1], size: 1), .notFound("secret \"hf\""))
        // The serving revision still uses it while the latest does not.
        _ = try database.addRevision(containerID: user.id, spec: spec())
        XCTAssertThrowsError(try database.deleteSecret(owner: "alice", name: "hf"))
        try database.promote(containerID: user.id, revision: 2)
        XCTAssertNoThrow(try database.deleteSecret(owner: "alice", name: "hf"))
        XCTAssertNil(try database.secret(owner: "alice", name: "hf"))
    }
}

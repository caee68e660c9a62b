import Crypto
import Foundation
import XCTest
@testable import Secrets

final class SecretBoxTests: XCTestCase {
    func testSealedValueOpensOnlyForItsOwnerAndName() throws {
        let box = SecretBox(key: SymmetricKey(size: .bits256))
        let value = Array("hf_0123456789".utf8)
        let sealed = try box.seal(value, owner: "alice", name: "hf")
        XCTAssertEqual(try box.open(sealed, owner: "alice", name: "hf"), value)
        // The clear text is not in the sealed bytes.
        XCTAssertNil(Data(sealed).range(of: Data(value)))
        XCTAssertThrowsError(try box.open(sealed, owner: "bob", name: "hf"))
        XCTAssertThrowsError(try box.open(sealed, owner: "alice", name: "hf2"))
        // Length prefixes keep owner/name boundaries apart.
        let shifted = try box.seal(value, owner: "a", name: "bc")
        XCTAssertThrowsError(try box.open(shifted, owner: "ab", name: "c"))
        var altered = sealed
        altered[altered.count / 2] ^= 1
        XCTAssertThrowsError(try box.open(altered, owner: "alice", name: "hf"))
        XCTAssertThrowsError(try SecretBox(key: SymmetricKey(size: .bits256)).open(sealed, owner: "alice", name: "hf"))
    }

    func testKeyFileIsMadeOnceWithMode0600AndKept() throws {
        let folder = NSTemporaryDirectory() + "secretbox-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/secret.key"
        let first = try SecretBox.loadOrCreateKey(path: path)
        let sealed = try first.seal([1, 2, 3], owner: "o", name: "n")
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertEqual((attributes[.size] as? NSNumber)?.intValue, 32)
        let second = try SecretBox.loadOrCreateKey(path: path)
        XCTAssertEqual(try second.open(sealed, owner: "o", name: "n"), [1, 2, 3])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["secret.key"])
    }

    func testKeyFileReadableByOthersOrOfTheWrongLengthIsRefused() throws {
        let folder = NSTemporaryDirectory() + "secretbox-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let readable = folder + "/open.key"
        FileManager.default.createFile(atPath: readable, contents: Data(count: 32), attributes: [.posixPermissions: 0o644])
        XCTAssertThrowsError(try SecretBox.loadOrCreateKey(path: readable)) { error in
            XCTAssertEqual(error as? SecretKeyError, .tooOpen(readable, 0o644))
        }
        let short = folder + "/short.key"
        FileManager.default.createFile(atPath: short, contents: Data(count: 16), attributes: [.posixPermissions: 0o600])
        XCTAssertThrowsError(try SecretBox.loadOrCreateKey(path: short)) { error in
            XCTAssertEqual(error as? SecretKeyError, .wrongLength(short, 16))
        }
    }
}

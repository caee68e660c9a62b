import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Seals secret values for the database with the node's key (AES-256-GCM), so that the
/// database file (and its backups) never hold a value in the clear. Each sealed value is bound
/// to its owner and name: a row copied onto another secret does not open.
public struct SecretBox: Sendable {
    private let key: SymmetricKey

    public init(key: SymmetricKey) {
        self.key = key
    }

    /// A box with a new random key that lives only in memory: what it seals no later process
    /// opens (tests, throwaway nodes).
    public static func ephemeral() -> SecretBox { SecretBox(key: SymmetricKey(size: .bits256)) }

    /// Bytes of a key file: 32 random bytes (AES-256).
    public static let keyBytes = 32

    /// The key in `path`, made (32 random bytes, mode 0600) when the file does not exist. A key
    /// file that group or others may read, or of another length, is refused: the key must stay
    /// root's, and a truncated one would seal with a key no later start has.
    public static func loadOrCreateKey(path: String) throws(SecretKeyError) -> SecretBox {
        if !FileManager.default.fileExists(atPath: path) { try createKey(path: path) }
        var info = stat()
        guard stat(path, &info) == 0 else { throw .unreadable(path, String(cString: strerror(errno))) }
        guard info.st_mode & 0o077 == 0 else { throw .tooOpen(path, Int(info.st_mode & 0o777)) }
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path, "cannot read it") }
        guard data.count == keyBytes else { throw .wrongLength(path, data.count) }
        return SecretBox(key: SymmetricKey(data: data))
    }

    /// Writes a new key beside `path` and links it into place: link(2) fails when another
    /// process made the file first, so two starts never end with different keys.
    private static func createKey(path: String) throws(SecretKeyError) {
        let scratch = path + ".new-\(getpid())"
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let fd = Glibc.open(scratch, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .unreadable(scratch, String(cString: strerror(errno))) }
        defer { unlink(scratch) }
        let written = key.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == keyBytes, synced == 0 else { throw .unreadable(scratch, String(cString: strerror(errno))) }
        if link(scratch, path) != 0 && errno != EEXIST { throw .unreadable(path, String(cString: strerror(errno))) }
    }

    /// The value sealed for `owner`'s secret `name`: nonce, ciphertext and tag.
    public func seal(_ value: [UInt8], owner: String, name: String) throws -> [UInt8] {
        let box = try AES.GCM.seal(value, using: key, authenticating: Self.context(owner: owner, name: name))
        guard let combined = box.combined else { throw SecretKeyError.sealFailed }
        return Array(combined)
    }

    /// The value, or `SecretKeyError.cannotOpen` when the key, owner or name differ from the
    /// sealing ones or the bytes were changed.
    public func open(_ sealed: [UInt8], owner: String, name: String) throws(SecretKeyError) -> [UInt8] {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: key, authenticating: Self.context(owner: owner, name: name)))
        } catch {
            throw .cannotOpen(name)
        }
    }

    /// Length-prefixed, so that owner "a" with name "bc" and owner "ab" with name "c" differ.
    static func context(owner: String, name: String) -> [UInt8] {
        var bytes = Array("berth-secret-v1".utf8)
        for part in [owner, name] {
            let utf8 = Array(part.utf8)
            withUnsafeBytes(of: UInt32(utf8.count).bigEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: utf8)
        }
        return bytes
    }
}

/// Why the key file or a sealed value could not be used. No case carries a secret's value.
public enum SecretKeyError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(String, String)
    case tooOpen(String, Int)
    case wrongLength(String, Int)
    case sealFailed
    case cannotOpen(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let why): "secret key file \(path): \(why)"
        case .tooOpen(let path, let mode):
            "secret key file \(path) has mode \(String(mode, radix: 8)); it must be readable by its owner only (chmod 600)"
        case .wrongLength(let path, let count): "secret key file \(path) holds \(count) bytes, not \(SecretBox.keyBytes)"
        case .sealFailed: "sealing a secret failed"
        case .cannotOpen(let name): "secret \"\(name)\" does not open with this node's key (the key file changed, or the row was altered)"
        }
    }
}

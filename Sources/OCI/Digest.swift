import Crypto
import Foundation

/// A content digest, `algorithm:hex`. Only sha256 is produced; sha512 is accepted when parsing
/// because the OCI spec registers it.
public struct Digest: Hashable, Sendable, CustomStringConvertible, Codable {
    public let algorithm: String
    public let encoded: String

    public init(_ string: String) throws(OCIError) {
        guard let colon = string.firstIndex(of: ":") else {
            throw .invalidDigest(string)
        }
        let algorithm = String(string[..<colon])
        let encoded = String(string[string.index(after: colon)...])
        let expectedLength: Int
        switch algorithm {
        case "sha256": expectedLength = 64
        case "sha512": expectedLength = 128
        default: throw .invalidDigest(string)
        }
        guard encoded.utf8.count == expectedLength,
              encoded.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else { throw .invalidDigest(string) }
        self.algorithm = algorithm
        self.encoded = encoded
    }

    /// The sha256 digest of `bytes`.
    public static func sha256<Bytes: Sequence>(of bytes: Bytes) -> Digest where Bytes.Element == UInt8 {
        var hasher = SHA256()
        hasher.update(data: Array(bytes))
        return Digest(sha256: hasher.finalize())
    }

    public init(sha256 digest: SHA256.Digest) {
        self.algorithm = "sha256"
        self.encoded = digest.map { String(format: "%02x", $0) }.joined()
    }

    public var description: String { "\(algorithm):\(encoded)" }

    /// The first 12 hex characters, as `docker` and `ctr` show digests to people.
    public var short: String { String(encoded.prefix(12)) }

    public init(from decoder: Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        do { self = try Digest(string) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Incremental sha256 over streamed bytes, checked against an expected digest at the end.
public struct DigestVerifier: Sendable {
    private var hasher = SHA256()
    public private(set) var count: Int64 = 0

    public init() {}

    public mutating func update<Bytes: DataProtocol>(_ bytes: Bytes) {
        hasher.update(data: bytes)
        count += Int64(bytes.count)
    }

    public func finalize() -> Digest {
        Digest(sha256: hasher.finalize())
    }
}

import Foundation
import OCI

/// The host ids a container's root and its other users map to when containers run in user
/// namespaces: one unprivileged range for every container on the node, as Docker's
/// `userns-remap` uses one subordinate range for all its containers. Container id N is host id
/// `base + N`, for N below `size`.
///
/// The default base, 0x70000000 (1879048192), lies past the ranges other tools hand out on a
/// host: regular users (1000…60000), systemd's dynamic and container ids (below 65536),
/// `useradd`'s /etc/subuid ranges (100000 upwards, 65536 per user) and systemd-nspawn's pool
/// for `--private-users=pick` (524288…1879048191); and below 2^31, since some tools still treat
/// ids as signed 32-bit numbers. It is a multiple of 65536, as nspawn's and Kubernetes' ranges are.
public struct UserNamespaceMapping: Sendable, Hashable, CustomStringConvertible {
    public static let defaultBase: UInt32 = 0x7000_0000
    /// 65536: every 16-bit id an image may use, `nobody` (65534) included.
    public static let defaultSize: UInt32 = 65536

    public let base: UInt32
    public let size: UInt32

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case tooSmall(UInt32)
        case overlapsHostUsers(base: UInt32)
        case pastLastID(base: UInt32, size: UInt32)

        public var description: String {
            switch self {
            case .tooSmall(let size):
                "a range of \(size) ids is too small; at least 65536 (every id an image may use, nobody = 65534 included)"
            case .overlapsHostUsers(let base):
                "base \(base) overlaps the host's own users and groups (0…65535): container root would be a host account"
            case .pastLastID(let base, let size):
                "base \(base) + size \(size) passes the last usable id (4294967294)"
            }
        }
    }

    /// Refuses ranges that overlap the host's own ids (0…65535: root, system accounts, regular
    /// users, nobody) or run past the last id (4294967295 is "no id").
    public init(base: UInt32 = Self.defaultBase, size: UInt32 = Self.defaultSize) throws(Problem) {
        guard size >= 65536 else { throw .tooSmall(size) }
        guard base >= 65536 else { throw .overlapsHostUsers(base: base) }
        guard UInt64(base) + UInt64(size) <= UInt64(UInt32.max) else { throw .pastLastID(base: base, size: size) }
        self.base = base
        self.size = size
    }

    /// The host id of container id `id`; nil when the container's namespace has no such id.
    public func hostID(_ id: UInt32) -> UInt32? {
        id < size ? base + id : nil
    }

    /// The spec's `linux.uidMappings` (and, equal, `gidMappings`).
    public var idMappings: [RuntimeSpec.IDMapping] {
        [RuntimeSpec.IDMapping(containerID: 0, hostID: base, size: size)]
    }

    public var description: String { "\(base):\(size)" }

    /// Parses `description` ("BASE:SIZE"), as kept in a container's `berth.userns` label.
    public init?(label: String) {
        let parts = label.split(separator: ":")
        guard parts.count == 2, let base = UInt32(parts[0]), let size = UInt32(parts[1]),
              let mapping = try? UserNamespaceMapping(base: base, size: size) else { return nil }
        self = mapping
    }

    /// Whether this kernel lets runc make user namespaces: it has them (/proc/self/ns/user) and
    /// does not limit them to none (user.max_user_namespaces, 0 when an operator turned them off).
    public static func hostSupportsUserNamespaces(procRoot: String = "/proc") -> Bool {
        guard FileManager.default.fileExists(atPath: procRoot + "/self/ns/user") else { return false }
        guard let text = try? String(contentsOfFile: procRoot + "/sys/user/max_user_namespaces", encoding: .utf8),
              let limit = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return false }
        return limit > 0
    }
}

/// A volume of the container's owner, mounted into every instance of a revision.
///
/// The rule for sharing (enforced by the store when a revision is recorded): a volume is
/// mounted either read-write by one container with at most one instance, or read-only by any
/// number of containers.
public struct VolumeMount: Hashable, Sendable, Codable {
    /// The volume's name, among its owner's volumes.
    public var name: String
    public var mountPath: String
    public var readOnly: Bool

    public init(name: String, mountPath: String, readOnly: Bool) {
        self.name = name
        self.mountPath = mountPath
        self.readOnly = readOnly
    }
}

/// A secret of the container's owner, given to every instance of a revision as a file: on a
/// tmpfs, mode 0400, owned by the container's user.
public struct SecretMount: Hashable, Sendable, Codable {
    /// The secret's name, among its owner's secrets.
    public var secret: String
    /// The file's path inside the container.
    public var path: String

    public init(secret: String, path: String) {
        self.secret = secret
        self.path = path
    }
}

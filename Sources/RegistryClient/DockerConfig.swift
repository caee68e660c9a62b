import Foundation

/// Registry credentials from a Docker `config.json` (`docker login` writes it).
///
/// Only the `auths` map is read. Entries without a usable secret, such as those of credential
/// helpers (`{}`) or with only an `identitytoken`, are ignored.
public struct DockerConfig: Sendable {
    /// Credentials by normalised registry host (`docker.io`, `host:port`).
    public private(set) var auths: [String: RegistryCredentials]

    public init() {
        self.auths = [:]
    }

    public init(auths: [String: RegistryCredentials]) {
        self.auths = [:]
        for (key, credentials) in auths {
            self.auths[Self.normalizedHost(key)] = credentials
        }
    }

    /// Reads `path`; throws `RegistryError.invalidConfiguration` when it cannot be read or is malformed.
    public init(contentsOf path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw RegistryError.invalidConfiguration("cannot read Docker config \(path): \(error.localizedDescription)")
        }
        try self.init(json: data, source: path)
    }

    public init(json data: Data, source: String = "Docker config") throws {
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw RegistryError.invalidConfiguration("\(source) is not a valid Docker config.json: \(Self.reason(error))")
        }
        var exact: [String: RegistryCredentials] = [:]
        var aliased: [String: RegistryCredentials] = [:]
        for (key, entry) in file.auths ?? [:] {
            guard let credentials = try entry.credentials(key: key, source: source) else { continue }
            let host = Self.normalizedHost(key)
            // "docker.io" written as such beats "https://index.docker.io/v1/" when both are present.
            if host == key { exact[host] = credentials } else { aliased[host] = credentials }
        }
        self.auths = aliased.merging(exact) { _, exact in exact }
    }

    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    public static var defaultPath: String {
        let environment = ProcessInfo.processInfo.environment
        if let directory = environment["DOCKER_CONFIG"], !directory.isEmpty {
            return (directory as NSString).appendingPathComponent("config.json")
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return (home as NSString).appendingPathComponent(".docker/config.json")
    }

    /// Reads `path`, or the default path when nil. A missing default file means no
    /// credentials; a missing explicit file is an error, since someone asked for it.
    public static func load(path: String?) throws -> DockerConfig {
        if let path {
            return try DockerConfig(contentsOf: path)
        }
        let path = defaultPath
        guard FileManager.default.fileExists(atPath: path) else { return DockerConfig() }
        return try DockerConfig(contentsOf: path)
    }

    public func credentials(for host: String) -> RegistryCredentials? {
        auths[Self.normalizedHost(host)]
    }

    /// The host a config key or registry name stands for: scheme and path dropped, lowercased,
    /// and Docker Hub's many names folded into `docker.io`.
    public static func normalizedHost(_ key: String) -> String {
        var host = Substring(key.trimmingCharacters(in: .whitespaces).lowercased())
        if let separator = host.range(of: "://") {
            host = host[separator.upperBound...]
        }
        if let slash = host.firstIndex(of: "/") {
            host = host[..<slash]
        }
        switch host {
        case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
            return "docker.io"
        default:
            return String(host)
        }
    }

    private static func reason(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context):
            return context.debugDescription
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "\(path): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    private struct File: Decodable {
        var auths: [String: Entry]?
    }

    private struct Entry: Decodable {
        var auth: String?
        var username: String?
        var password: String?
        var identitytoken: String?

        func credentials(key: String, source: String) throws -> RegistryCredentials? {
            if let auth, !auth.isEmpty {
                var encoded = auth.trimmingCharacters(in: .whitespacesAndNewlines)
                // Some tools write base64 without padding.
                encoded += String(repeating: "=", count: (4 - encoded.utf8.count % 4) % 4)
                guard let decoded = Data(base64Encoded: encoded).map({ String(decoding: $0, as: UTF8.self) }),
                      let colon = decoded.firstIndex(of: ":")
                else {
                    throw RegistryError.invalidConfiguration(
                        "\(source): auths[\"\(key)\"].auth is not the base64 of \"user:password\"")
                }
                return RegistryCredentials(username: String(decoded[..<colon]),
                                           password: String(decoded[decoded.index(after: colon)...]))
            }
            if let username, !username.isEmpty, let password {
                return RegistryCredentials(username: username, password: password)
            }
            return nil
        }
    }
}

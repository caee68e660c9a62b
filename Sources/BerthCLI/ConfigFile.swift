import Foundation
import TOMLKit

/// `~/.config/berth/config.toml` (`$XDG_CONFIG_HOME/berth/config.toml` when that is set): the
/// node `berth login` remembered and its token, or the file to read the token from. It holds a
/// credential, so it is written with mode 0600 in a 0700 folder, whole or not at all.
struct ConfigFile: Codable, Equatable {
    var url: String?
    var token: String?
    /// Read at every call, so a token rotated in that file needs no new login.
    var tokenFile: String?

    enum CodingKeys: String, CodingKey {
        case url
        case token
        case tokenFile = "token_file"
    }

    static func path(environment: [String: String]) -> String {
        if let folder = environment["XDG_CONFIG_HOME"], folder.hasPrefix("/") {
            return folder + "/berth/config.toml"
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.config/berth/config.toml"
    }

    /// The file at `path`; an empty one when there is none.
    static func load(_ path: String) throws -> ConfigFile {
        guard FileManager.default.fileExists(atPath: path) else { return ConfigFile() }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw CLIFailure(.usage, "\(path) cannot be read")
        }
        do {
            return try TOMLDecoder().decode(ConfigFile.self, from: text)
        } catch {
            throw CLIFailure(.usage, "\(path) is not a berth configuration: \(Self.oneLine(error))")
        }
    }

    /// Writes the file beside itself and renames it into place.
    func save(_ path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        let text: String
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            text = try TOMLEncoder().encode(self)
        } catch {
            throw CLIFailure(.other, "cannot write \(path): \(Self.oneLine(error))")
        }
        let temporary = folder + "/.config.toml.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIFailure(.other, "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw CLIFailure(.other, "cannot write \(path): \(reason)")
        }
    }

    static func oneLine(_ error: any Error) -> String {
        "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

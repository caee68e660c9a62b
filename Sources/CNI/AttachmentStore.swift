import Foundation
import JSONValue

/// What ADD returned for a container, with the configuration it ran with: CHECK and DEL need
/// the result as prevResult, and DEL must run with the configuration ADD used even when the
/// agent restarts with a different one. This is libcni's result cache, one file per container.
struct AttachmentRecord: Codable, Sendable, Equatable {
    struct Network: Codable, Sendable, Equatable {
        var ifName: String
        var config: JSONValue
        var result: JSONValue?
    }

    var containerID: String
    var netnsPath: String
    var networks: [Network]
    /// The identity of the node that attached it (`berth.node`); nil in records written before
    /// identities existed.
    var node: String? = nil
    /// Written before a detach's DEL: a berthd killed between the DEL and the namespace's
    /// removal leaves a namespace without interfaces, which must never be reused. nil (false) in
    /// records of earlier versions.
    var detaching: Bool? = nil

    /// Every ADD returned and no detach began: the namespace is usable.
    var isComplete: Bool { detaching != true && networks.allSatisfy { $0.result != nil } }
}

struct AttachmentStore: Sendable {
    let directory: String
    /// Written into every record saved (`CNIConfiguration.nodeIdentity`).
    var node: String? = nil

    func path(_ containerID: String) -> String { directory + "/" + containerID + ".json" }

    func load(_ containerID: String) throws(CNINetworkError) -> AttachmentRecord? {
        let file = path(containerID)
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        do {
            return try JSONDecoder().decode(AttachmentRecord.self, from: data)
        } catch {
            throw .storage(path: file, reason: "unreadable: \(error)")
        }
    }

    /// Written to `<id>.json.partial` and renamed, so a crash leaves the old record or the new
    /// one, and a partial file of a known name (``removePartialWrites()``; Foundation's atomic
    /// write would leave a temporary of its own naming). One writer per id: the caller holds the
    /// container's lock. Not fsynced: the namespaces and NAT rules it describes do not survive a
    /// reboot either.
    func save(_ record: AttachmentRecord) throws(CNINetworkError) {
        let file = path(record.containerID)
        let partial = file + Self.partialSuffix
        var record = record
        record.node = record.node ?? node
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(record).write(to: URL(fileURLWithPath: partial))
        } catch {
            throw .storage(path: file, reason: "cannot write: \(error)")
        }
        if rename(partial, file) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(partial)
            throw .storage(path: file, reason: "cannot write: \(reason)")
        }
    }

    static let partialSuffix = ".partial"

    /// Records a killed berthd was writing: the rename never happened, so the record before
    /// (or none) is the one that counts.
    func removePartialWrites() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where name.hasSuffix(".json" + Self.partialSuffix) {
            unlink(directory + "/" + name)
        }
    }

    func remove(_ containerID: String) throws(CNINetworkError) {
        let file = path(containerID)
        if unlink(file) != 0, errno != ENOENT {
            throw .storage(path: file, reason: "cannot remove: \(String(cString: strerror(errno)))")
        }
    }

    func containerIDs() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }
    }
}

import Foundation

/// Why a runtime spec could not be built for an image and revision.
public enum SpecError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The image's `User` cannot be used (bad syntax, or a number out of range).
    case invalidUser(String)
    /// A user name that the image's /etc/passwd does not have (or the image has no /etc/passwd).
    case unknownUser(name: String, reason: String)
    /// A group name that the image's /etc/group does not have (or the image has no /etc/group).
    case unknownGroup(name: String, reason: String)
    /// Neither `Entrypoint` nor `Cmd`: nothing to run.
    case noCommand
    case invalidEnvironment(String)
    case invalidLimit(String)
    /// A spec edit (e.g. GPU injection) failed.
    case edit(name: String, message: String)

    public var description: String {
        switch self {
        case .invalidUser(let message): return "image user: \(message)"
        case .unknownUser(let name, let reason): return "image user \"\(name)\" not found: \(reason)"
        case .unknownGroup(let name, let reason): return "image group \"\(name)\" not found: \(reason)"
        case .noCommand: return "the image has neither an Entrypoint nor a Cmd: nothing to run"
        case .invalidEnvironment(let message): return "environment: \(message)"
        case .invalidLimit(let message): return "limits: \(message)"
        case .edit(let name, let message): return "\(name): \(message)"
        }
    }
}

/// Turns an image's `User` ("uid", "uid:gid", "name", "name:group", "uid:group", "name:gid") into
/// ids, with the image's /etc/passwd and /etc/group, as containerd's `WithUser` and
/// `WithAdditionalGIDs` do:
///
/// - empty: root, 0:0;
/// - a number alone: that uid, with the primary group from /etc/passwd when the uid is listed
///   there, else gid 0;
/// - a name alone: uid and primary gid from /etc/passwd; an unknown name (or no /etc/passwd) is an
///   error;
/// - `user:group`: each side a number taken as is, or a name looked up (user in /etc/passwd,
///   group in /etc/group; unknown is an error). The primary group is the one given.
///
/// Supplementary groups: every group in /etc/group whose member list names the user (looked up by
/// uid in /etc/passwd; a uid not listed there has none), except a group named like the user;
/// the primary gid always comes first.
public enum UserResolver {
    public struct Resolved: Equatable, Sendable {
        public var uid: UInt32
        public var gid: UInt32
        public var additionalGids: [UInt32]
    }

    public static func resolve(_ user: String, passwd: String?, group: String?) throws(SpecError)
        -> (uid: UInt32, gid: UInt32, additionalGids: [UInt32]) {
        let resolved = try resolveUser(user, passwd: passwd, group: group)
        return (resolved.uid, resolved.gid, resolved.additionalGids)
    }

    public static func resolveUser(_ user: String, passwd: String?, group: String?) throws(SpecError) -> Resolved {
        let users = passwd.map(parsePasswd) ?? []
        let groups = group.map(parseGroup) ?? []

        var uid: UInt32 = 0
        var gid: UInt32 = 0
        let parts = user.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 1 where parts[0].isEmpty:
            break
        case 1:
            if let number = try number(parts[0], in: user) {
                uid = number
                gid = users.first(where: { $0.uid == number })?.gid ?? 0
            } else {
                let entry = try lookUpUser(named: parts[0], users: users, passwd: passwd)
                uid = entry.uid
                gid = entry.gid
            }
        case 2:
            guard !parts[0].isEmpty, !parts[1].isEmpty else {
                throw .invalidUser("\"\(user)\" is not uid, uid:gid, name or name:group")
            }
            if let number = try number(parts[0], in: user) {
                uid = number
            } else {
                uid = try lookUpUser(named: parts[0], users: users, passwd: passwd).uid
            }
            if let number = try number(parts[1], in: user) {
                gid = number
            } else {
                guard group != nil else {
                    throw .unknownGroup(name: parts[1], reason: "the image has no /etc/group")
                }
                guard let entry = groups.first(where: { $0.name == parts[1] }) else {
                    throw .unknownGroup(name: parts[1], reason: "no such group in the image's /etc/group")
                }
                gid = entry.gid
            }
        default:
            throw .invalidUser("\"\(user)\" is not uid, uid:gid, name or name:group")
        }

        var additional: [UInt32] = [gid]
        if let name = users.first(where: { $0.uid == uid })?.name {
            for entry in groups where entry.name != name && entry.members.contains(name) && !additional.contains(entry.gid) {
                additional.append(entry.gid)
            }
        }
        return Resolved(uid: uid, gid: gid, additionalGids: additional)
    }

    /// A decimal id, nil for a name; a number that is not a valid id is an error.
    private static func number(_ text: String, in user: String) throws(SpecError) -> UInt32? {
        let body = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        guard !body.isEmpty, body.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }) else { return nil }
        guard !text.hasPrefix("-"), let value = UInt32(body) else {
            throw .invalidUser("\"\(user)\": \(text) is not an id between 0 and \(UInt32.max)")
        }
        return value
    }

    private static func lookUpUser(named name: String, users: [PasswdEntry], passwd: String?) throws(SpecError) -> PasswdEntry {
        guard passwd != nil else { throw .unknownUser(name: name, reason: "the image has no /etc/passwd") }
        guard let entry = users.first(where: { $0.name == name }) else {
            throw .unknownUser(name: name, reason: "no such user in the image's /etc/passwd")
        }
        return entry
    }

    struct PasswdEntry: Equatable {
        var name: String
        var uid: UInt32
        var gid: UInt32
    }

    struct GroupEntry: Equatable {
        var name: String
        var gid: UInt32
        var members: [String]
    }

    /// `name:password:uid:gid:gecos:home:shell`; blank lines, comments and lines with bad ids are
    /// skipped, as libcontainer's parser does in effect.
    static func parsePasswd(_ text: String) -> [PasswdEntry] {
        lines(text).compactMap { fields in
            guard fields.count >= 4, let uid = UInt32(fields[2]), let gid = UInt32(fields[3]) else { return nil }
            return PasswdEntry(name: fields[0], uid: uid, gid: gid)
        }
    }

    /// `name:password:gid:member,member`.
    static func parseGroup(_ text: String) -> [GroupEntry] {
        lines(text).compactMap { fields in
            guard fields.count >= 3, let gid = UInt32(fields[2]) else { return nil }
            let members = fields.count > 3
                ? fields[3].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                : []
            return GroupEntry(name: fields[0], gid: gid, members: members)
        }
    }

    private static func lines(_ text: String) -> [[String]] {
        text.split(whereSeparator: \.isNewline).compactMap { raw in
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { return nil }
            return line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        }
    }
}

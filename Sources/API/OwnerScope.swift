import Auth
import Foundation
import Hummingbird

/// Whose volumes and secrets a request means. Their names are unique per owner, so a name
/// resolves among the caller's own: another owner's is simply not there (404). ADMIN reaches
/// another owner's with `?owner=`, and lists every owner's with `?all=true`.
enum OwnerScope {
    /// The owner a request on one named resource acts for.
    static func owner(_ request: Request, context: APIContext) throws -> String {
        let caller = try context.caller()
        guard let given = request.uri.queryParameters["owner"].map(String.init), !given.isEmpty, given != caller.subject else {
            return caller.subject
        }
        guard caller.isAdmin else { throw APIError.forbidden("?owner= needs the ADMIN role") }
        return given
    }

    /// The owner a list shows, or nil for every owner's (`?all=true`, ADMIN only).
    static func listOwner(_ request: Request, context: APIContext) throws -> String? {
        try all(request, caller: context.caller()) ? nil : owner(request, context: context)
    }

    /// `?all=true` (or `1`): every owner's, for ADMIN only.
    static func all(_ request: Request, caller: Principal) throws -> Bool {
        guard request.uri.queryParameters["all"].map({ $0 == "true" || $0 == "1" }) ?? false else { return false }
        guard caller.isAdmin else { throw APIError.forbidden("?all=true needs the ADMIN role") }
        return true
    }

    /// `?owner=<owner>` when the caller is not the owner (an ADMIN acting for one), for `Location`.
    static func query(_ owner: String, context: APIContext) -> String {
        guard let caller = try? context.caller(), caller.subject != owner else { return "" }
        return "?owner=" + (owner.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
    }
}

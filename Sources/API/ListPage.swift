import Foundation
import Hummingbird
import Store

/// `pageSize` and `pageToken` of a list request, as Cloud Run's list (Google's AIP-158): a
/// missing or zero `pageSize` is the default, one above the maximum is the maximum, a negative
/// or non-numeric one is a 400. The token is opaque to clients: where the last page ended and
/// which list it belongs to, so a token from another caller's or another `all`/`owner` list is
/// refused rather than silently skipping rows.
struct ListPage: Equatable {
    static let defaultSize = 100
    static let maximumSize = 1000

    var size: Int
    var after: ListPosition?

    /// `scope` names the list (the owner, or every owner's): a token is only good for its own.
    init(_ request: Request, scope: String) throws {
        var errors: [APIError.FieldError] = []
        size = Self.defaultSize
        if let given = request.uri.queryParameters["pageSize"] {
            if let number = Int(given), number >= 0 {
                size = number == 0 ? Self.defaultSize : min(number, Self.maximumSize)
            } else {
                errors.append(.init("pageSize", "must be a whole number from 0 to \(Self.maximumSize) (0: the default, \(Self.defaultSize))"))
            }
        }
        after = nil
        if let token = request.uri.queryParameters["pageToken"], !token.isEmpty {
            if let position = Self.position(String(token), scope: scope) {
                after = position
            } else {
                errors.append(.init("pageToken", "is not a nextPageToken of this list"))
            }
        }
        if !errors.isEmpty { throw APIError.invalid(errors) }
    }

    /// The token that continues a list of `scope` after `position`.
    static func token(after position: ListPosition, scope: String) -> String {
        let plain = "1\n\(position.createdAt)\n\(position.rowID)\n\(scope)"
        return Data(plain.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func position(_ token: String, scope: String) -> ListPosition? {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard token.count <= 1024, let data = Data(base64Encoded: base64), let plain = String(data: data, encoding: .utf8)
        else { return nil }
        let parts = plain.split(separator: "\n", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "1", parts[3] == scope,
              let createdAt = Int64(parts[1]), let rowID = Int64(parts[2])
        else { return nil }
        return ListPosition(createdAt: createdAt, rowID: rowID)
    }
}

import Foundation
import OCI

/// A failed registry operation, described in one line a person can act on.
///
/// Every error thrown by `RegistryClient`'s public methods is a `RegistryError`, except
/// `CancellationError` and errors thrown by a caller's `consume` closure, which pass through
/// unchanged. `OCIError`s met while reading registry responses (a malformed
/// `Docker-Content-Digest`, say) are wrapped in `.invalidResponse`.
public enum RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No such tag or digest (404 `MANIFEST_UNKNOWN`, or any 404 on a manifest). The payload is the reference.
    case manifestUnknown(String)
    /// No such repository (404 `NAME_UNKNOWN`). The payload is the reference.
    case repositoryUnknown(String)
    /// No such blob in the repository (404 on a blob). The payload is `name@digest`.
    case blobUnknown(String)
    /// Missing or rejected credentials: still 401/403 after authenticating.
    case unauthorized(host: String, detail: String)
    /// No HTTP answer (refused, reset, DNS, TLS, timeouts) after the retries.
    case unreachable(endpoint: String, underlying: String)
    case digestMismatch(expected: Digest, actual: Digest)
    case sizeMismatch(expected: Int64, actual: Int64)
    case manifestTooLarge(String, limit: Int)
    case blobTooLarge(String, size: Int64, limit: Int64)
    /// Any other status, with the registry's error codes (never the body itself).
    case unexpectedStatus(Int, url: String, body: String)
    /// A connection the egress policy does not allow: a scheme other than http(s), plain HTTP to
    /// a host not named insecure, or a loopback, link-local, private… address. `target` says
    /// which request (`registry redirect to http://127.0.0.1:5000`).
    case egressRefused(target: String, reason: String)
    case invalidResponse(String)
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .manifestUnknown(let reference):
            return "\(reference): manifest unknown (no such tag or digest)"
        case .repositoryUnknown(let reference):
            return "\(reference): repository unknown (check the image name and that you may pull it)"
        case .blobUnknown(let blob):
            return "\(blob): blob unknown to the registry"
        case .unauthorized(let host, let detail):
            return "\(host): unauthorized: \(detail)"
        case .unreachable(let endpoint, let underlying):
            return "cannot reach registry \(endpoint): \(underlying)"
        case .digestMismatch(let expected, let actual):
            return "content digest mismatch: expected \(expected), got \(actual) (corrupted download or wrong content from the registry; the data must be discarded)"
        case .sizeMismatch(let expected, let actual):
            return "content size mismatch: expected \(expected) bytes, got \(actual) (truncated or wrong content from the registry; the data must be discarded)"
        case .manifestTooLarge(let reference, let limit):
            return "\(reference): manifest is larger than \(limit / 1024 / 1024) MiB; refusing it"
        case .blobTooLarge(let blob, let size, let limit):
            return "\(blob): blob of \(size) bytes is larger than the \(limit / 1024 / 1024) MiB allowed in memory"
        case .unexpectedStatus(let status, let url, let body):
            let hint = status == 429 ? " (rate limited: try again later, or configure credentials or a mirror)" : ""
            return "registry answered \(status) for \(url)\(hint)\(body.isEmpty ? "" : " (\(body))")"
        case .egressRefused(let target, let reason):
            return "\(target) refused: \(reason)"
        case .invalidResponse(let reason):
            return "invalid registry response: \(reason)"
        case .invalidConfiguration(let reason):
            return "invalid registry configuration: \(reason)"
        }
    }
}

/// The error body of the distribution spec: `{"errors":[{"code":..,"message":..,"detail":..}]}`.
struct RegistryErrorBody: Decodable, Equatable {
    struct Entry: Decodable, Equatable {
        var code: String
        var message: String?
    }

    var errors: [Entry]

    /// The entries, or nil when `data` is not such a body.
    static func parse(_ data: Data) -> [Entry]? {
        guard let body = try? JSONDecoder().decode(RegistryErrorBody.self, from: data), !body.errors.isEmpty else {
            return nil
        }
        return body.errors
    }

    /// One line for error messages: the registry's error codes (`MANIFEST_UNKNOWN`), at most
    /// three. Nothing else of a body is ever repeated: errors end up in statuses tenants read,
    /// and a body is whatever a foreign server chose to send (the spec's codes are a fixed
    /// vocabulary of upper-case words, so anything else in the `code` field is dropped).
    static func summary(_ data: Data) -> String {
        guard let entries = parse(data) else { return "" }
        var codes: [String] = []
        for entry in entries where Self.isCode(entry.code) && !codes.contains(entry.code) {
            codes.append(entry.code)
            if codes.count == 3 { break }
        }
        return codes.joined(separator: ", ")
    }

    static func isCode(_ text: String) -> Bool {
        (1...40).contains(text.utf8.count)
            && text.utf8.allSatisfy { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || $0 == UInt8(ascii: "_") }
    }
}

/// Foreign text (URLs, header values) made fit for a one-line error: printable ASCII only,
/// capped in length.
enum Sanitized {
    static func text(_ text: String, limit: Int = 160) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if result.count >= limit {
                result += "…"
                break
            }
            result.unicodeScalars.append((0x21...0x7e).contains(scalar.value) || scalar == " " ? scalar : "?")
        }
        return result
    }
}

/// An image reference normalised the way Docker does: `nginxdemos/hello:1` is
/// `docker.io/nginxdemos/hello:1` and `ubuntu:22.04` is `docker.io/library/ubuntu:22.04`.
///
/// A tag or a digest is required. Berth never assumes `latest`: a deploy must say what it runs.
public struct ImageReference: Hashable, Sendable, CustomStringConvertible {
    /// The registry host, with port if any (`docker.io`, `localhost:5000`).
    public let registry: String
    /// The repository path inside the registry (`library/ubuntu`).
    public let repository: String
    public let tag: String?
    public let digest: Digest?

    public static let dockerHub = "docker.io"

    public init(parsing input: String) throws(OCIError) {
        guard !input.isEmpty else { throw .invalidReference(input, reason: "it is empty") }
        guard input.utf8.count <= 512, !input.contains(where: { $0.isWhitespace || $0 == "\0" }) else {
            throw .invalidReference(input, reason: "it contains whitespace or control characters, or is too long")
        }
        var remainder = Substring(input)

        var digest: Digest?
        if let at = remainder.firstIndex(of: "@") {
            digest = try Digest(String(remainder[remainder.index(after: at)...]))
            remainder = remainder[..<at]
        }

        var tag: String?
        // A colon after the last slash separates the tag; one before it belongs to a host:port.
        let lastSlash = remainder.lastIndex(of: "/")
        if let colon = remainder.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let candidate = String(remainder[remainder.index(after: colon)...])
            guard Self.isValidTag(candidate) else {
                throw .invalidReference(input, reason: "tag \"\(candidate)\" must be 1–128 of [A-Za-z0-9_.-] and not start with . or -")
            }
            tag = candidate
            remainder = remainder[..<colon]
        }

        let name = String(remainder)
        guard !name.isEmpty else { throw .invalidReference(input, reason: "the repository name is empty") }
        guard name.utf8.count <= 255 else { throw .invalidReference(input, reason: "the repository name is longer than 255 characters") }

        var components = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var registry = Self.dockerHub
        if components.count > 1, Self.looksLikeHost(components[0]) {
            registry = components.removeFirst()
            guard Self.isValidHost(registry) else {
                throw .invalidReference(input, reason: "registry host \"\(registry)\" is not a valid host[:port]")
            }
        }
        for component in components where !Self.isValidPathComponent(component) {
            if component.contains(where: { $0.isUppercase }) {
                throw .invalidReference(input, reason: "repository names must be lowercase")
            }
            throw .invalidReference(input, reason: "\"\(component)\" is not a valid repository path component")
        }
        if registry == "index.docker.io" || registry == "registry-1.docker.io" { registry = Self.dockerHub }
        if registry == Self.dockerHub, components.count == 1 {
            components.insert("library", at: 0)
        }
        guard tag != nil || digest != nil else { throw .missingTagOrDigest(input) }

        self.registry = registry
        self.repository = components.joined(separator: "/")
        self.tag = tag
        self.digest = digest
    }

    public init(registry: String, repository: String, tag: String?, digest: Digest? = nil) {
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// `registry/repository`, without tag or digest.
    public var name: String { "\(registry)/\(repository)" }

    /// The tag or digest to ask the registry for; a digest wins when both are given.
    public var manifestReference: String { digest?.description ?? tag! }

    /// The fully qualified form, which is also the name of the image in containerd.
    public var description: String {
        var result = name
        if let tag { result += ":\(tag)" }
        if let digest { result += "@\(digest)" }
        return result
    }

    /// The shortest form that normalises back to this reference, as `docker images` shows it.
    public var familiar: String {
        var short = name
        if registry == Self.dockerHub {
            short = repository.hasPrefix("library/") && repository.split(separator: "/").count == 2
                ? String(repository.dropFirst("library/".count)) : repository
        }
        if let tag { short += ":\(tag)" }
        if let digest { short += "@\(digest)" }
        return short
    }

    // MARK: - Grammar (distribution/reference)

    private static func looksLikeHost(_ component: String) -> Bool {
        component.contains(".") || component.contains(":") || component == "localhost"
            || component.contains(where: { $0.isUppercase })
    }

    private static func isValidHost(_ host: String) -> Bool {
        var hostPart = Substring(host)
        if let colon = host.lastIndex(of: ":"), !host.hasPrefix("[") || host[..<colon].hasSuffix("]") {
            let port = host[host.index(after: colon)...]
            guard !port.isEmpty, port.allSatisfy(\.isASCIIDigit), let value = Int(port), value <= 65535 else {
                return false
            }
            hostPart = host[..<colon]
        }
        if hostPart.hasPrefix("[") && hostPart.hasSuffix("]") {
            return hostPart.dropFirst().dropLast().allSatisfy { $0.isHexDigit || $0 == ":" }
        }
        let labels = hostPart.split(separator: ".", omittingEmptySubsequences: false)
        return !labels.isEmpty && labels.allSatisfy { label in
            !label.isEmpty && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCIIAlphanumeric || $0 == "-" }
        }
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
    private static func isValidPathComponent(_ component: String) -> Bool {
        let chars = Array(component.utf8)
        guard let first = chars.first, let last = chars.last, isLowerAlnum(first), isLowerAlnum(last) else {
            return false
        }
        var i = 0
        while i < chars.count {
            if isLowerAlnum(chars[i]) { i += 1; continue }
            // A separator run: ".", "_", "__", or one or more "-".
            var j = i
            while j < chars.count, !isLowerAlnum(chars[j]) { j += 1 }
            let separator = chars[i..<j]
            let ok = separator.elementsEqual(".".utf8) || separator.elementsEqual("_".utf8)
                || separator.elementsEqual("__".utf8) || separator.allSatisfy { $0 == UInt8(ascii: "-") }
            guard ok else { return false }
            i = j
        }
        return true
    }

    private static func isLowerAlnum(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)
    }

    /// `[\w][\w.-]{0,127}`
    static func isValidTag(_ tag: String) -> Bool {
        let chars = Array(tag.utf8)
        guard (1...128).contains(chars.count) else { return false }
        func word(_ c: UInt8) -> Bool { isLowerAlnum(c) || (c >= 0x41 && c <= 0x5a) || c == UInt8(ascii: "_") }
        return word(chars[0]) && chars.dropFirst().allSatisfy { word($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
    fileprivate var isASCIIAlphanumeric: Bool { isASCII && (isLetter || isNumber) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An OCI platform (os, architecture, variant), normalised the way containerd does.
public struct Platform: Hashable, Sendable, Codable, CustomStringConvertible {
    public var os: String
    public var architecture: String
    public var variant: String?

    enum CodingKeys: String, CodingKey {
        case os
        case architecture
        case variant
    }

    public init(os: String, architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = (variant?.isEmpty ?? true) ? nil : variant
    }

    /// Parses `os/arch[/variant]`.
    public init(parsing string: String) throws(OCIError) {
        let parts = string.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw .invalidDocument("platform \"\(string)\" is not os/arch[/variant]")
        }
        self.init(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
        self = normalized
    }

    public var description: String {
        [os, architecture, variant].compactMap { $0 }.joined(separator: "/")
    }

    /// Architecture aliases folded (x86_64 → amd64, aarch64 → arm64) and arm64's default
    /// variant v8 made explicit.
    public var normalized: Platform {
        var arch = architecture.lowercased()
        var variant = self.variant?.lowercased()
        switch arch {
        case "x86_64", "x86-64": arch = "amd64"
        case "aarch64", "arm64":
            arch = "arm64"
            if variant == nil || variant == "8" { variant = "v8" }
        case "armhf": arch = "arm"; variant = "v7"
        case "armel": arch = "arm"; variant = "v6"
        case "arm":
            if variant == nil { variant = "v7" }
            if let v = variant, !v.hasPrefix("v") { variant = "v" + v }
        case "i386", "i686": arch = "386"
        default: break
        }
        return Platform(os: os.lowercased(), architecture: arch, variant: variant)
    }

    /// Whether an image built for `other` runs here: same os and architecture, and for arm an
    /// equal or older variant (v7 runs v6 and v5).
    public func accepts(_ other: Platform) -> Bool {
        let me = normalized
        let them = other.normalized
        guard me.os == them.os, me.architecture == them.architecture else { return false }
        guard let mine = me.variant, let theirs = them.variant else { return true }
        if me.architecture == "arm",
           let a = Int(mine.dropFirst()), let b = Int(theirs.dropFirst()) {
            return b <= a
        }
        return mine == theirs
    }

    /// The platform of the machine this runs on.
    public static var host: Platform {
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: &name.machine) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return Platform(os: "linux", architecture: machine).normalized
    }
}

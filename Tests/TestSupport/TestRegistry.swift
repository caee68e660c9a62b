import Foundation
import OCI

/// Builds images from files on this machine and pushes them to a test registry with skopeo.
public enum TestRegistry {
    /// Builds an OCI image layout under a temporary folder and pushes it with skopeo, keeping
    /// every digest: the returned ones are exactly what the registry serves.
    public static func push(_ image: TestImage, to registry: String, repository: String, tag: String,
                            credentials: (user: String, password: String)? = nil) async throws -> PushedImage {
        let user = credentials?.user
        let password = credentials?.password
        return try await onBlockingThread {
            try withLayout { layout in
                let built = try layout.addImage(image)
                try layout.tag(built.manifest, as: tag)
                let reference = "\(registry)/\(repository):\(tag)"
                try copy(layout, tag: tag, to: reference, all: false, user: user, password: password,
                         expecting: built.manifest.digest)
                return PushedImage(reference: reference, digest: built.manifest.digest, mediaType: MediaType.ociManifest,
                                   manifests: [built.manifest], config: built.config, layers: built.layers,
                                   diffIDs: built.diffIDs, images: [built])
            }
        }
    }

    /// Same, with an OCI image index holding one manifest per image (each image's own platform),
    /// pushed with `skopeo copy --all`.
    public static func pushIndex(_ images: [TestImage], to registry: String, repository: String, tag: String,
                                 credentials: (user: String, password: String)? = nil) async throws -> PushedImage {
        guard !images.isEmpty else { throw TestSupportError("pushIndex needs at least one image") }
        let user = credentials?.user
        let password = credentials?.password
        return try await onBlockingThread {
            try withLayout { layout in
                let built = try images.map { try layout.addImage($0) }
                let index = try layout.addIndex(built.map(\.manifest))
                try layout.tag(index, as: tag)
                let reference = "\(registry)/\(repository):\(tag)"
                try copy(layout, tag: tag, to: reference, all: true, user: user, password: password,
                         expecting: index.digest)
                return PushedImage(reference: reference, digest: index.digest, mediaType: MediaType.ociIndex,
                                   manifests: built.map(\.manifest), config: built[0].config, layers: built[0].layers,
                                   diffIDs: built[0].diffIDs, images: built)
            }
        }
    }

    /// Where the plain registry stores a blob's bytes (for tests that corrupt it).
    public static func blobPath(registryRoot: String, digest: Digest) -> String {
        "\(registryRoot)/docker/registry/v2/blobs/\(digest.algorithm)/\(digest.encoded.prefix(2))/\(digest.encoded)/data"
    }

    /// The manifest or index bytes the registry serves for `reference` (via `skopeo inspect --raw`).
    public static func rawManifest(_ reference: String, credentials: (user: String, password: String)? = nil) async throws -> Data {
        var arguments = ["--insecure-policy", "inspect", "--raw", "--tls-verify=false"]
        if let credentials {
            arguments += ["--creds", "\(credentials.user):\(credentials.password)"]
        } else {
            arguments += ["--no-creds"]
        }
        arguments.append("docker://\(reference)")
        let finalArguments = arguments
        return try await onBlockingThread { Data(try runCommand("skopeo", finalArguments).utf8) }
    }

    private static func withLayout<T>(_ body: (OCILayoutWriter) throws -> T) throws -> T {
        let base = ProcessInfo.processInfo.environment["BERTH_TEST_SCRATCH"] ?? NSTemporaryDirectory()
        let folder = try makeUniqueDirectory(in: base, prefix: "oci-layout")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let layout = try OCILayoutWriter(root: folder + "/layout")
        return try body(layout)
    }

    /// `--preserve-digests` makes skopeo fail rather than rewrite a manifest or recompress a
    /// layer; the digest file then confirms what the registry stored.
    private static func copy(_ layout: OCILayoutWriter, tag: String, to reference: String, all: Bool,
                             user: String?, password: String?, expecting digest: Digest) throws {
        let digestFile = layout.root + ".digest"
        var arguments = ["--insecure-policy", "copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
                         "--digestfile", digestFile]
        if all { arguments.append("--all") }
        if let user, let password {
            arguments += ["--dest-creds", "\(user):\(password)"]
        } else {
            arguments.append("--dest-no-creds")
        }
        arguments += ["oci:\(layout.root):\(tag)", "docker://\(reference)"]
        try runCommand("skopeo", arguments)
        let pushed = try String(contentsOfFile: digestFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard pushed == digest.description else {
            throw TestSupportError("skopeo pushed \(reference) as \(pushed), but the layout holds \(digest)")
        }
    }
}

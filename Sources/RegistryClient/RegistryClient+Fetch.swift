import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OCI

extension RegistryClient {
    /// Resolves a tag (or digest) to the top-level manifest or index and returns its bytes.
    public func fetchManifest(_ reference: ImageReference) async throws -> FetchedManifest {
        try await fetchManifest(reference.manifestReference, expected: reference.digest, in: reference,
                                name: reference.description)
    }

    /// Fetches a manifest by digest in the reference's repository (used for index children).
    public func fetchManifest(_ descriptor: Descriptor, in reference: ImageReference) async throws -> FetchedManifest {
        let name = "\(reference.name)@\(descriptor.digest)"
        guard descriptor.size <= Self.manifestSizeLimit else {
            throw RegistryError.manifestTooLarge(name, limit: Self.manifestSizeLimit)
        }
        let manifest = try await fetchManifest(descriptor.digest.description, expected: descriptor.digest,
                                               in: reference, name: name)
        guard manifest.descriptor.size == descriptor.size else {
            throw RegistryError.sizeMismatch(expected: descriptor.size, actual: manifest.descriptor.size)
        }
        return manifest
    }

    /// Small blobs (configs): whole in memory, verified, at most 16 MiB.
    public func fetchBlob(_ descriptor: Descriptor, in reference: ImageReference) async throws -> Data {
        guard descriptor.size <= Self.inMemoryBlobLimit else {
            throw RegistryError.blobTooLarge("\(reference.name)@\(descriptor.digest)", size: descriptor.size,
                                             limit: Self.inMemoryBlobLimit)
        }
        var data = Data()
        data.reserveCapacity(Int(max(0, descriptor.size)))
        try await streamBlob(descriptor, in: reference) { chunk in
            data.append(contentsOf: chunk.readableBytesView)
        }
        return data
    }

    private func fetchManifest(_ tagOrDigest: String, expected: Digest?, in reference: ImageReference,
                               name: String) async throws -> FetchedManifest {
        if let expected, expected.algorithm != "sha256" {
            throw RegistryError.invalidResponse("\(name): only sha256 digests can be verified")
        }
        let scope = Self.pullScope(reference.repository)
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: MediaType.manifestAccept.joined(separator: ", "))
        return try await onEndpoints(for: reference) { endpoint in
            try await withRetries(retryPolicy(for: endpoint), "manifest \(name) from \(endpoint)") {
                let url = endpoint.url(repository: reference.repository, kind: "manifests", reference: tagOrDigest)
                let response = try await send(RegistryRequest(url: url, headers: headers, endpoint: endpoint, scope: scope))
                switch response.status.code {
                case 200:
                    break
                case 404:
                    let codes = RegistryErrorBody.parse(await readErrorBody(response))?.map(\.code) ?? []
                    if codes.contains("NAME_UNKNOWN") {
                        throw RegistryError.repositoryUnknown(name)
                    }
                    throw RegistryError.manifestUnknown(name)
                default:
                    throw await statusError(response, url: url)
                }
                let data = try await collect(response, limit: Self.manifestSizeLimit, endpoint: endpoint.description) {
                    RegistryError.manifestTooLarge(name, limit: Self.manifestSizeLimit)
                }
                return try Self.verifiedManifest(data, headers: response.headers, expected: expected)
            }
        }
    }

    /// Checks the bytes against `Docker-Content-Digest` and the digest asked for, and names them.
    static func verifiedManifest(_ data: Data, headers: HTTPHeaders, expected: Digest?) throws -> FetchedManifest {
        let actual = Digest.sha256(of: data)
        if let header = headers.first(name: "Docker-Content-Digest") {
            let declared: Digest
            do {
                declared = try Digest(header.trimmingCharacters(in: .whitespaces))
            } catch {
                throw RegistryError.invalidResponse("the Docker-Content-Digest header is not a sha256 digest")
            }
            if declared.algorithm == actual.algorithm, declared != actual {
                throw RegistryError.digestMismatch(expected: declared, actual: actual)
            }
        }
        if let expected, expected != actual {
            throw RegistryError.digestMismatch(expected: expected, actual: actual)
        }
        let mediaType = manifestMediaType(contentType: headers.first(name: "Content-Type"), body: data)
        return FetchedManifest(descriptor: Descriptor(mediaType: mediaType, digest: actual, size: Int64(data.count)),
                               data: data)
    }

    /// The Content-Type unless it is a generic one some registries send; then the document's own
    /// `mediaType`; then its shape (an index has `manifests`).
    static func manifestMediaType(contentType: String?, body: Data) -> String {
        let served = contentType?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        if !["", "application/json", "text/plain", "application/octet-stream"].contains(served) {
            return served
        }
        let document = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        if let declared = document?["mediaType"] as? String, !declared.isEmpty {
            return declared
        }
        return document?["manifests"] != nil ? MediaType.ociIndex : MediaType.ociManifest
    }
}

import Foundation
import NIOCore
import OCI
import RegistryClient
import Synchronization
import XCTest

/// Runs `body` with a client that is shut down afterwards, whatever happens.
func withRegistryClient<T>(_ configuration: RegistryConfiguration,
                           _ body: (RegistryClient) async throws -> T) async throws -> T {
    let client = RegistryClient(configuration: configuration)
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// The error `body` throws; fails the test when it returns.
func expectError<T>(_ body: () async throws -> T, file: StaticString = #filePath, line: UInt = #line) async -> (any Error)? {
    do {
        let value = try await body()
        XCTFail("expected an error, got \(value)", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

/// The `RegistryError` `body` throws; fails the test on success or another error type.
func expectRegistryError<T>(_ body: () async throws -> T, file: StaticString = #filePath,
                            line: UInt = #line) async -> RegistryError? {
    guard let error = await expectError(body, file: file, line: line) else { return nil }
    guard let registryError = error as? RegistryError else {
        XCTFail("expected a RegistryError, got \(type(of: error)): \(error)", file: file, line: line)
        return nil
    }
    return registryError
}

/// Streams a blob into memory, counting the chunks handed over.
func streamed(_ client: RegistryClient, _ descriptor: Descriptor, in reference: ImageReference,
              from offset: Int64 = 0, into data: inout [UInt8]) async throws {
    try await client.streamBlob(descriptor, in: reference, from: offset) { chunk in
        data.append(contentsOf: chunk.readableBytesView)
    }
}

/// Deterministic bytes that do not compress or repeat in any way that matters here.
func pseudoRandomBytes(_ count: Int, seed: UInt64 = 42) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
}

func blobDescriptor(_ bytes: [UInt8], mediaType: String = MediaType.ociLayerGzip) -> Descriptor {
    Descriptor(mediaType: mediaType, digest: Digest.sha256(of: bytes), size: Int64(bytes.count))
}

/// A short policy, so that tests of retries take milliseconds.
let quickRetries = RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(10), maxDelay: .milliseconds(40))

/// Runs `body` with a stub server that is shut down afterwards, whatever happens.
func withStub<T>(_ handler: @escaping StubServer.Handler, _ body: (StubServer) async throws -> T) async throws -> T {
    let server = try await StubServer.start(handler)
    do {
        let result = try await body(server)
        try await server.shutdown()
        return result
    } catch {
        try? await server.shutdown()
        throw error
    }
}

/// Shared mutable state for stub handlers.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        mutex = Mutex(value)
    }

    var value: Value {
        get { mutex.withLock { $0 } }
        set { mutex.withLock { $0 = newValue } }
    }

    @discardableResult
    func update<T: Sendable>(_ body: @Sendable (inout Value) -> T) -> T {
        mutex.withLock { body(&$0) }
    }
}

/// A blob answer that honours `Range: bytes=N-` with 206, as registries do.
func blobReply(_ blob: [UInt8], to request: StubServer.Request) -> StubServer.Reply {
    if let range = request.range, range.hasPrefix("bytes="), range.hasSuffix("-"),
       let start = Int(range.dropFirst(6).dropLast()), start < blob.count {
        return .respond(status: 206, headers: [("Content-Range", "bytes \(start)-\(blob.count - 1)/\(blob.count)")],
                        body: Array(blob[start...]))
    }
    return .respond(status: 200, body: blob)
}

func registryErrorJSON(_ code: String, _ message: String) -> [UInt8] {
    Array(#"{"errors":[{"code":"\#(code)","message":"\#(message)"}]}"#.utf8)
}

/// A small OCI manifest document, served as such by stubs.
let stubManifest: [UInt8] = Array(#"""
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}
"""#.utf8)

func manifestReply(_ body: [UInt8] = stubManifest) -> StubServer.Reply {
    .respond(status: 200, headers: [("Content-Type", MediaType.ociManifest),
                                     ("Docker-Content-Digest", Digest.sha256(of: body).description)], body: body)
}

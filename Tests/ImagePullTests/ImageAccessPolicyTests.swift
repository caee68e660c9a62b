import ContainerdClient
import Foundation
import ImagePull
import OCI
import RegistryClient
import TestSupport
import XCTest

/// Images in containerd are not handed to a new revision without the registry's say-so.
final class ImageAccessPolicyTests: XCTestCase {
    /// A tag the registry no longer serves (here: deleted from its storage, as a revoked or
    /// removed image would be) fails a revision's first start although containerd still has the
    /// image from an earlier pull; a later start of a revision that did resolve it runs it
    /// without asking the registry.
    func testFirstStartAsksTheRegistryLaterStartsReuse() async throws {
        let f = try PullFixture()
        let repository = "berth/access-\(UUID().uuidString.lowercased().prefix(8))"
        let pushed = try await TestRegistry.push(TestImage(layers: [.files(["/a": "a\n"])]), to: f.env.registry,
                                                 repository: repository, tag: "1")
        let reference = try ImageReference(parsing: pushed.reference)
        try await f.withPuller { puller, _ in
            let first = try await puller.imageForStart(reference, resolved: nil)
            XCTAssertEqual(first.digest, pushed.digest)

            let tag = "\(f.env.registryRoot)/docker/registry/v2/repositories/\(repository)/_manifests/tags/1"
            try FileManager.default.removeItem(atPath: tag)

            let local = try await puller.localImage(reference)
            XCTAssertEqual(local?.digest, pushed.digest, "containerd still has the image")
            await self.assertThrows({ try await puller.imageForStart(reference, resolved: nil) }, "another revision's first start") {
                ($0 as? RegistryError) == .manifestUnknown(reference.description)
            }
            let restart = try await puller.imageForStart(reference, resolved: first)
            XCTAssertEqual(restart.digest, pushed.digest)
            XCTAssertEqual(restart.chainID, first.chainID, "the content the first start resolved")
        }
        try f.removeEverything()
    }
}

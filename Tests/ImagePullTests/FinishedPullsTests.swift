@testable import ImagePull
import OCI
import XCTest

/// The puller's memory of finished pulls: one entry per reference, the most recent kept.
final class FinishedPullsTests: XCTestCase {
    func reference(_ name: String) -> ImageReference {
        try! ImageReference(parsing: "registry.test/\(name):1")
    }

    func image(_ name: String, digest: Character = "0") -> PulledImage {
        let named = reference(name)
        let sha = try! Digest("sha256:" + String(repeating: digest, count: 64))
        return PulledImage(name: named.description, reference: named, digest: sha, manifestDigest: sha,
                           config: ImageConfig(platform: .host, config: nil, diffIDs: []),
                           configDescriptor: Descriptor(mediaType: MediaType.ociConfig, digest: sha, size: 2),
                           chainID: sha, size: 0, bytesDownloaded: 0, layers: [])
    }

    func testKeepsTheLatestPullOfEachReference() {
        var pulls = FinishedPulls(capacity: 2)
        pulls.record(image("a", digest: "1"))
        pulls.record(image("a", digest: "2"))
        XCTAssertEqual(pulls.count, 1)
        XCTAssertEqual(pulls[reference("a")]?.digest, image("a", digest: "2").digest)
    }

    func testForgetsTheLeastRecentlyPulledBeyondItsCapacity() {
        var pulls = FinishedPulls(capacity: 2)
        pulls.record(image("a"))
        pulls.record(image("b"))
        pulls.record(image("a"))  // a is now the most recent
        pulls.record(image("c"))
        XCTAssertEqual(pulls.count, 2)
        XCTAssertNil(pulls[reference("b")])
        XCTAssertNotNil(pulls[reference("a")])
        XCTAssertNotNil(pulls[reference("c")])
    }
}

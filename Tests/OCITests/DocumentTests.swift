import Foundation
import OCI
import XCTest

final class DocumentTests: XCTestCase {
    let config = "sha256:" + String(repeating: "c", count: 64)
    let layer = "sha256:" + String(repeating: "1", count: 64)

    func testDockerSchema2ManifestDecodes() throws {
        let json = """
        {"schemaVersion":2,"mediaType":"\(MediaType.dockerManifest)",
         "config":{"mediaType":"\(MediaType.dockerConfig)","size":1469,"digest":"\(config)"},
         "layers":[{"mediaType":"\(MediaType.dockerLayerGzip)","size":2811478,"digest":"\(layer)"}]}
        """
        let manifest = try Manifest.decode(Data(json.utf8), mediaType: MediaType.dockerManifest)
        XCTAssertEqual(manifest.config.digest.description, config)
        XCTAssertEqual(manifest.layers.map(\.size), [2_811_478])
    }

    func testOCIManifestWithZstdAndPlainLayersDecodes() throws {
        let json = """
        {"schemaVersion":2,"mediaType":"\(MediaType.ociManifest)",
         "config":{"mediaType":"\(MediaType.ociConfig)","size":10,"digest":"\(config)"},
         "layers":[{"mediaType":"\(MediaType.ociLayerZstd)","size":5,"digest":"\(layer)"},
                   {"mediaType":"\(MediaType.ociLayer)","size":6,"digest":"\(layer)"}]}
        """
        let manifest = try Manifest.decode(Data(json.utf8), mediaType: MediaType.ociManifest)
        XCTAssertEqual(manifest.layers.map(\.mediaType), [MediaType.ociLayerZstd, MediaType.ociLayer])
    }

    func testManifestWithUnknownLayerTypeIsRefused() {
        let json = """
        {"schemaVersion":2,"config":{"mediaType":"\(MediaType.ociConfig)","size":10,"digest":"\(config)"},
         "layers":[{"mediaType":"application/vnd.example.weird","size":5,"digest":"\(layer)"}]}
        """
        XCTAssertThrowsError(try Manifest.decode(Data(json.utf8), mediaType: MediaType.ociManifest)) {
            XCTAssertEqual($0 as? OCIError, .unsupportedMediaType("application/vnd.example.weird"))
        }
        XCTAssertThrowsError(try Manifest.decode(Data("{".utf8), mediaType: MediaType.ociManifest))
        XCTAssertThrowsError(try Manifest.decode(Data(#"{"schemaVersion":1,"config":{"mediaType":"x","size":1,"digest":"\#(config)"},"layers":[]}"#.utf8), mediaType: MediaType.ociManifest))
    }

    func testIndexSelectsTheHostPlatform() throws {
        let amd64 = "sha256:" + String(repeating: "a", count: 64)
        let arm64 = "sha256:" + String(repeating: "b", count: 64)
        let armv7 = "sha256:" + String(repeating: "d", count: 64)
        let json = """
        {"schemaVersion":2,"mediaType":"\(MediaType.ociIndex)","manifests":[
          {"mediaType":"\(MediaType.ociManifest)","size":1,"digest":"\(armv7)","platform":{"os":"linux","architecture":"arm","variant":"v7"}},
          {"mediaType":"\(MediaType.ociManifest)","size":1,"digest":"\(arm64)","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
          {"mediaType":"\(MediaType.ociManifest)","size":1,"digest":"\(amd64)","platform":{"os":"linux","architecture":"amd64"}},
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"\(amd64)","platform":{"os":"unknown","architecture":"unknown"}}
        ]}
        """
        let index = try Index.decode(Data(json.utf8))
        XCTAssertEqual(try index.manifest(for: Platform(os: "linux", architecture: "amd64")).digest.description, amd64)
        XCTAssertEqual(try index.manifest(for: Platform(os: "linux", architecture: "x86_64")).digest.description, amd64)
        XCTAssertEqual(try index.manifest(for: Platform(os: "linux", architecture: "aarch64")).digest.description, arm64)
        XCTAssertEqual(try index.manifest(for: Platform(os: "linux", architecture: "arm64")).digest.description, arm64)
        XCTAssertEqual(try index.manifest(for: Platform(os: "linux", architecture: "arm", variant: "v7")).digest.description, armv7)
        // v8 32-bit arm runs v7 images when there is no exact match.
        XCTAssertEqual(try index.manifest(for: Platform(os: "linux", architecture: "arm", variant: "v8")).digest.description, armv7)
        XCTAssertThrowsError(try index.manifest(for: Platform(os: "linux", architecture: "arm", variant: "v6"))) { error in
            guard case .noMatchingPlatform = error as? OCIError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try index.manifest(for: Platform(os: "linux", architecture: "s390x")))
    }

    func testPlatformParsingAndHost() throws {
        XCTAssertEqual(try Platform(parsing: "linux/arm64"), Platform(os: "linux", architecture: "arm64", variant: "v8"))
        XCTAssertEqual(try Platform(parsing: "linux/amd64").description, "linux/amd64")
        XCTAssertThrowsError(try Platform(parsing: "linux"))
        XCTAssertThrowsError(try Platform(parsing: "linux//v7"))
        XCTAssertEqual(Platform.host.os, "linux")
        XCTAssertFalse(Platform.host.architecture.isEmpty)
    }

    func testChainIDs() throws {
        let a = try Digest("sha256:" + String(repeating: "a", count: 64))
        let b = try Digest("sha256:" + String(repeating: "b", count: 64))
        let c = try Digest("sha256:" + String(repeating: "c", count: 64))
        // Expected values computed independently: sha256("<parent chain> <diff id>").
        XCTAssertEqual(ChainID.chain([a, b, c]).map(\.description), [
            a.description,
            "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c",
            "sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588",
        ])
        XCTAssertEqual(ChainID.chain([]), [])
    }

    func testDigests() throws {
        XCTAssertEqual(Digest.sha256(of: Array("hello".utf8)).description,
                       "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        var verifier = DigestVerifier()
        verifier.update(Data("hel".utf8))
        verifier.update(Data("lo".utf8))
        XCTAssertEqual(verifier.finalize(), Digest.sha256(of: Array("hello".utf8)))
        XCTAssertEqual(verifier.count, 5)
        XCTAssertThrowsError(try Digest("sha256:ABC"))
        XCTAssertThrowsError(try Digest("sha256:" + String(repeating: "A", count: 64)), "uppercase hex is not canonical")
        XCTAssertThrowsError(try Digest("md5:" + String(repeating: "a", count: 32)))
        XCTAssertThrowsError(try Digest("nocolon"))
    }
}

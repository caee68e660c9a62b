import OCI
import XCTest

final class ImageReferenceTests: XCTestCase {
    func testDockerHubShortNamesNormalise() throws {
        XCTAssertEqual(try ImageReference(parsing: "nginxdemos/hello:1").description, "docker.io/nginxdemos/hello:1")
        XCTAssertEqual(try ImageReference(parsing: "ubuntu:22.04").description, "docker.io/library/ubuntu:22.04")
        XCTAssertEqual(try ImageReference(parsing: "docker.io/ubuntu:22.04").description, "docker.io/library/ubuntu:22.04")
        XCTAssertEqual(try ImageReference(parsing: "index.docker.io/library/ubuntu:22.04").description, "docker.io/library/ubuntu:22.04")
        let hello = try ImageReference(parsing: "nginxdemos/hello:latest")
        XCTAssertEqual(hello.registry, "docker.io")
        XCTAssertEqual(hello.repository, "nginxdemos/hello")
        XCTAssertEqual(hello.tag, "latest")
        XCTAssertEqual(hello.familiar, "nginxdemos/hello:latest")
        XCTAssertEqual(try ImageReference(parsing: "ubuntu:22.04").familiar, "ubuntu:22.04")
    }

    func testRegistryHostsAndPorts() throws {
        let local = try ImageReference(parsing: "localhost:5000/team/app:v2")
        XCTAssertEqual(local.registry, "localhost:5000")
        XCTAssertEqual(local.repository, "team/app")
        XCTAssertEqual(local.tag, "v2")
        let loopback = try ImageReference(parsing: "127.0.0.1:41234/berth/busybox:1")
        XCTAssertEqual(loopback.registry, "127.0.0.1:41234")
        XCTAssertEqual(loopback.name, "127.0.0.1:41234/berth/busybox")
        let ghcr = try ImageReference(parsing: "ghcr.io/org/sub/app:1.2.3-rc.1")
        XCTAssertEqual(ghcr.registry, "ghcr.io")
        XCTAssertEqual(ghcr.repository, "org/sub/app")
        // A single component with no dot or colon is never a host.
        XCTAssertEqual(try ImageReference(parsing: "library/busybox:1").registry, "docker.io")
    }

    func testDigestReferences() throws {
        let hex = String(repeating: "a", count: 64)
        let pinned = try ImageReference(parsing: "busybox@sha256:\(hex)")
        XCTAssertNil(pinned.tag)
        XCTAssertEqual(pinned.digest?.description, "sha256:\(hex)")
        XCTAssertEqual(pinned.manifestReference, "sha256:\(hex)")
        let both = try ImageReference(parsing: "busybox:1.36@sha256:\(hex)")
        XCTAssertEqual(both.tag, "1.36")
        XCTAssertEqual(both.manifestReference, "sha256:\(hex)", "a digest wins over a tag")
        XCTAssertEqual(both.description, "docker.io/library/busybox:1.36@sha256:\(hex)")
    }

    func testMissingTagIsRefusedNotDefaultedToLatest() {
        for input in ["nginx", "docker.io/library/nginx", "localhost:5000/app", "ghcr.io/org/app"] {
            XCTAssertThrowsError(try ImageReference(parsing: input)) { error in
                XCTAssertEqual(error as? OCIError, .missingTagOrDigest(input), input)
                XCTAssertTrue(String(describing: error).contains("no tag or digest"))
            }
        }
    }

    func testMalformedReferencesAreRefused() {
        let bad = [
            "", "Ubuntu:22.04", "ubuntu:", "ubuntu:-x", "ubuntu:.x", "ubuntu:a b", "ubuntu::1", "/ubuntu:1",
            "ubuntu/:1", "a//b:1", "ubuntu@sha256:abc", "ubuntu@md5:" + String(repeating: "a", count: 32),
            "ubuntu:" + String(repeating: "x", count: 129), "bad_-name:1", "a..b:1", "-a:1", "a-:1",
            "ubuntu:1\0", "host:99999/app:1", "my host/app:1",
        ]
        for input in bad {
            XCTAssertThrowsError(try ImageReference(parsing: input), "\(input.debugDescription) should be refused")
        }
    }

    func testSeparatorsAllowedByTheGrammar() throws {
        for input in ["a.b:1", "a_b:1", "a__b:1", "a---b:1", "a/b.c_d__e-f:1", "registry.example.com:443/x:1"] {
            XCTAssertNoThrow(try ImageReference(parsing: input), input)
        }
    }
}

import RegistryClient
import XCTest

final class RegistryEndpointTests: XCTestCase {
    func testDockerHubUsesRegistry1OverHTTPS() {
        let endpoints = RegistryConfiguration().endpoints(for: "docker.io")
        XCTAssertEqual(endpoints.map(\.baseURL), ["https://registry-1.docker.io"])
        XCTAssertEqual(endpoints[0].credentialHost, "docker.io")
        XCTAssertFalse(endpoints[0].isMirror)
        XCTAssertEqual(endpoints[0].url(repository: "library/ubuntu", kind: "manifests", reference: "22.04"),
                       "https://registry-1.docker.io/v2/library/ubuntu/manifests/22.04")
    }

    func testOtherRegistriesUseHTTPS() {
        XCTAssertEqual(RegistryConfiguration().endpoints(for: "ghcr.io").map(\.baseURL), ["https://ghcr.io"])
        XCTAssertEqual(RegistryConfiguration().endpoints(for: "r.example:5000").map(\.baseURL), ["https://r.example:5000"])
    }

    func testInsecureHostsUsePlainHTTPOnExactMatch() {
        let configuration = RegistryConfiguration(insecureHosts: ["127.0.0.1:5000", "registry.lan"])
        XCTAssertEqual(configuration.endpoints(for: "127.0.0.1:5000").map(\.baseURL), ["http://127.0.0.1:5000"])
        XCTAssertEqual(configuration.endpoints(for: "registry.lan").map(\.baseURL), ["http://registry.lan"])
        XCTAssertEqual(configuration.endpoints(for: "127.0.0.1:5001").map(\.baseURL), ["https://127.0.0.1:5001"])
        XCTAssertEqual(configuration.endpoints(for: "registry.lan:80").map(\.baseURL), ["https://registry.lan:80"])
    }

    func testNoImplicitLocalhostException() {
        let configuration = RegistryConfiguration()
        XCTAssertEqual(configuration.endpoints(for: "localhost:5000").map(\.scheme), ["https"])
        XCTAssertEqual(configuration.endpoints(for: "127.0.0.1:5000").map(\.scheme), ["https"])
        let listed = RegistryConfiguration(insecureHosts: ["localhost:5000"])
        XCTAssertEqual(listed.endpoints(for: "localhost:5000").map(\.scheme), ["http"])
    }

    func testMirrorsComeFirstInOrder() {
        let configuration = RegistryConfiguration(mirrors: [
            "docker.io": ["http://127.0.0.1:5001", "https://mirror.example.com/prefix/v2/", "mirror2.example.com"],
        ])
        let endpoints = configuration.endpoints(for: "docker.io")
        XCTAssertEqual(endpoints.map(\.baseURL), [
            "http://127.0.0.1:5001", "https://mirror.example.com/prefix", "https://mirror2.example.com",
            "https://registry-1.docker.io",
        ])
        XCTAssertEqual(endpoints.map(\.isMirror), [true, true, true, false])
        XCTAssertEqual(endpoints.map(\.credentialHost), ["127.0.0.1:5001", "mirror.example.com", "mirror2.example.com", "docker.io"])
        XCTAssertEqual(endpoints[1].url(repository: "library/ubuntu", kind: "blobs", reference: "sha256:x"),
                       "https://mirror.example.com/prefix/v2/library/ubuntu/blobs/sha256:x")
        XCTAssertEqual(configuration.endpoints(for: "ghcr.io").map(\.baseURL), ["https://ghcr.io"])
    }

    func testMirrorKeyIsNormalised() {
        let configuration = RegistryConfiguration(mirrors: ["registry-1.docker.io": ["https://m.example"]])
        XCTAssertEqual(configuration.endpoints(for: "docker.io").map(\.baseURL), ["https://m.example", "https://registry-1.docker.io"])
    }

    func testMirrorWithoutSchemeHonoursInsecureHosts() {
        let configuration = RegistryConfiguration(insecureHosts: ["10.0.0.1:5000"], mirrors: ["docker.io": ["10.0.0.1:5000"]])
        XCTAssertEqual(configuration.endpoints(for: "docker.io").first?.baseURL, "http://10.0.0.1:5000")
    }

    func testInvalidMirrorsAreLeftOut() {
        let configuration = RegistryConfiguration(mirrors: ["docker.io": ["ftp://m.example", "http://", "https://ok.example"]])
        XCTAssertEqual(configuration.endpoints(for: "docker.io").map(\.baseURL), ["https://ok.example", "https://registry-1.docker.io"])
        XCTAssertEqual(Set(configuration.invalidMirrors), ["ftp://m.example", "http://"])
    }

    func testCredentialsExplicitFirstThenDockerConfig() {
        var configuration = RegistryConfiguration(
            credentials: ["docker.io": RegistryCredentials(username: "explicit", password: "p")],
            dockerConfig: DockerConfig(auths: [
                "https://index.docker.io/v1/": RegistryCredentials(username: "file", password: "p"),
                "mirror.example:5000": RegistryCredentials(username: "mirror", password: "p"),
            ]))
        XCTAssertEqual(configuration.credentials(for: "docker.io")?.username, "explicit")
        XCTAssertEqual(configuration.credentials(for: "mirror.example:5000")?.username, "mirror")
        XCTAssertNil(configuration.credentials(for: "ghcr.io"))
        configuration.credentials = [:]
        XCTAssertEqual(configuration.credentials(for: "docker.io")?.username, "file")
        configuration.credentials = ["https://index.docker.io/v1/": RegistryCredentials(username: "aliased", password: "p")]
        XCTAssertEqual(configuration.credentials(for: "docker.io")?.username, "aliased")
    }
}

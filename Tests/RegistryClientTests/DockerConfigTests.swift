import Foundation
import RegistryClient
import XCTest

final class DockerConfigTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "berth-docker-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func write(_ json: String, name: String = "config.json") throws -> String {
        let path = "\(directory!)/\(name)"
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func base64(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
    }

    func testAuthField() throws {
        let path = try write(#"{"auths":{"registry.example.com":{"auth":"\#(base64("alice:s3cr:et"))"}}}"#)
        let config = try DockerConfig(contentsOf: path)
        XCTAssertEqual(config.credentials(for: "registry.example.com"),
                       RegistryCredentials(username: "alice", password: "s3cr:et"))
        XCTAssertNil(config.credentials(for: "other.example.com"))
    }

    func testAuthWithoutPadding() throws {
        let unpadded = base64("bob:pw").replacingOccurrences(of: "=", with: "")
        let config = try DockerConfig(json: Data(#"{"auths":{"r.example":{"auth":"\#(unpadded)"}}}"#.utf8))
        XCTAssertEqual(config.credentials(for: "r.example"), RegistryCredentials(username: "bob", password: "pw"))
    }

    func testUsernameAndPassword() throws {
        let path = try write(#"{"auths":{"localhost:5000":{"username":"carol","password":"pw"}}}"#)
        let config = try DockerConfig(contentsOf: path)
        XCTAssertEqual(config.credentials(for: "localhost:5000"), RegistryCredentials(username: "carol", password: "pw"))
        XCTAssertNil(config.credentials(for: "localhost"))
    }

    func testDockerHubKeyAliases() throws {
        for key in ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io", "https://registry-1.docker.io/v2/"] {
            let config = try DockerConfig(json: Data(#"{"auths":{"\#(key)":{"auth":"\#(base64("u:p"))"}}}"#.utf8))
            for host in ["docker.io", "registry-1.docker.io", "index.docker.io"] {
                XCTAssertEqual(config.credentials(for: host)?.username, "u", "key \(key), host \(host)")
            }
        }
    }

    func testURLKeysWithPort() throws {
        let config = try DockerConfig(json: Data(#"{"auths":{"https://Registry.Example.com:5000/v2/":{"auth":"\#(base64("u:p"))"}}}"#.utf8))
        XCTAssertEqual(config.credentials(for: "registry.example.com:5000")?.username, "u")
        XCTAssertNil(config.credentials(for: "registry.example.com"))
    }

    func testExactKeyWinsOverAlias() throws {
        let json = #"{"auths":{"https://index.docker.io/v1/":{"auth":"\#(base64("old:p"))"},"docker.io":{"auth":"\#(base64("new:p"))"}}}"#
        XCTAssertEqual(try DockerConfig(json: Data(json.utf8)).credentials(for: "docker.io")?.username, "new")
    }

    func testEntriesWithoutSecretsAreIgnored() throws {
        let json = #"""
        {"auths":{"helper.example":{},"token.example":{"identitytoken":"abc"},"empty.example":{"auth":""}},
         "credsStore":"desktop","HttpHeaders":{"X-Meta":"1"}}
        """#
        let config = try DockerConfig(json: Data(json.utf8))
        XCTAssertTrue(config.auths.isEmpty)
    }

    func testNoAuthsAtAll() throws {
        XCTAssertTrue(try DockerConfig(json: Data("{}".utf8)).auths.isEmpty)
    }

    func testMalformedJSON() throws {
        let path = try write(#"{"auths": {"#)
        XCTAssertThrowsError(try DockerConfig(contentsOf: path)) { error in
            guard case RegistryError.invalidConfiguration(let message) = error else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertTrue(message.contains(path), message)
        }
    }

    func testWrongShape() throws {
        XCTAssertThrowsError(try DockerConfig(json: Data(#"{"auths":{"r":{"auth":42}}}"#.utf8))) { error in
            guard case RegistryError.invalidConfiguration = error else { return XCTFail("unexpected \(error)") }
        }
        XCTAssertThrowsError(try DockerConfig(json: Data("[1,2]".utf8)))
    }

    func testInvalidBase64() throws {
        XCTAssertThrowsError(try DockerConfig(json: Data(#"{"auths":{"r.example":{"auth":"!!!notbase64"}}}"#.utf8))) { error in
            XCTAssertTrue("\(error)".contains("r.example"), "\(error)")
        }
        XCTAssertThrowsError(try DockerConfig(json: Data(#"{"auths":{"r.example":{"auth":"\#(base64("nocolon"))"}}}"#.utf8)))
    }

    func testMissingExplicitFileIsAnError() {
        XCTAssertThrowsError(try DockerConfig.load(path: "\(directory!)/missing.json")) { error in
            guard case RegistryError.invalidConfiguration = error else { return XCTFail("unexpected \(error)") }
        }
    }

    func testDefaultPathFollowsDOCKER_CONFIG() throws {
        let previous = ProcessInfo.processInfo.environment["DOCKER_CONFIG"]
        defer {
            if let previous { setenv("DOCKER_CONFIG", previous, 1) } else { unsetenv("DOCKER_CONFIG") }
        }
        setenv("DOCKER_CONFIG", directory, 1)
        XCTAssertEqual(DockerConfig.defaultPath, "\(directory!)/config.json")
        XCTAssertTrue(try DockerConfig.load(path: nil).auths.isEmpty, "a missing default file means no credentials")

        _ = try write(#"{"auths":{"r.example":{"username":"u","password":"p"}}}"#)
        XCTAssertEqual(try DockerConfig.load(path: nil).credentials(for: "r.example")?.username, "u")

        _ = try write("not json")
        XCTAssertThrowsError(try DockerConfig.load(path: nil))
    }
}

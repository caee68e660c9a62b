import Daemon
import Foundation
import XCTest

final class ConfigurationValidationTests: XCTestCase {
    var folder: TemporaryFolder!
    var secret: String!

    override func setUpWithError() throws {
        folder = try TemporaryFolder()
        secret = try folder.write("jwt-secret", "0123456789abcdef0123456789abcdef\n", mode: 0o600)
    }

    override func tearDown() {
        folder = nil
    }

    /// The defaults with a secret, a data folder under the test's folder: valid.
    func valid() -> DaemonConfiguration {
        var configuration = DaemonConfiguration.defaults
        configuration.jwtSecretFile = secret
        configuration.dataDirectory = folder.path + "/data"
        return configuration
    }

    func validationError(_ configuration: DaemonConfiguration, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            try configuration.validate()
            XCTFail("validated", file: file, line: line)
            return ""
        } catch {
            XCTAssertFalse(error.description.contains("\n"), file: file, line: line)
            return error.description
        }
    }

    func testAValidConfiguration() throws {
        XCTAssertNoThrow(try valid().validate())
        var withKeys = valid()
        withKeys.jwtSecretFile = nil
        withKeys.jwtPublicKeyFiles = [try folder.write("a.pem", "-----BEGIN PUBLIC KEY-----\n")]
        withKeys.dockerConfig = try folder.write("config.json", "{}")
        withKeys.registryMirrors = ["docker.io": ["http://10.0.0.5:5000", "https://mirror.gcr.io"]]
        withKeys.insecureRegistries = ["10.0.0.5:5000"]
        withKeys.idlePauseAfter = .zero
        withKeys.idleStopAfter = .zero
        withKeys.domain = "run.example.com"
        withKeys.proxyListen = ListenAddress(host: "", port: 80)
        XCTAssertNoThrow(try withKeys.validate())
    }

    func testTheDefaultsAloneHaveNoJWTKey() {
        XCTAssertEqual(
            validationError(DaemonConfiguration.defaults),
            "auth: no JWT verification key is configured; set auth.jwt_secret_file (BERTH_JWT_SECRET_FILE, --jwt-secret-file) to a file with an HS256 secret, or auth.jwt_public_key_files (BERTH_JWT_PUBLIC_KEY_FILES, --jwt-public-key-file) to RS256/ES256 public key PEM files"
        )
    }

    func testEachRule() throws {
        let cases: [(String, (inout DaemonConfiguration) throws -> Void)] = [
            ("containerd.namespace: \"a..b\" is not a containerd namespace", { $0.namespace = "a..b" }),
            ("containerd.namespace: \"-a\" is not a containerd namespace", { $0.namespace = "-a" }),
            ("api.listen: port 0 is out of range 1–65535", { $0.apiListen.port = 0 }),
            ("proxy.listen: port 70000 is out of range 1–65535", { $0.proxyListen.port = 70000 }),
            ("proxy.listen: 127.0.0.1:8080 is also api.listen", { $0.proxyListen = $0.apiListen }),
            ("proxy.domain: \"-bad.example\" is not a DNS name", { $0.domain = "-bad.example" }),
            ("proxy.domain: \"example.com.\" is not a DNS name", { $0.domain = "example.com." }),
            ("proxy.domain: \"a_b\" is not a DNS name", { $0.domain = "a_b" }),
            ("proxy.domain: must not be empty", { $0.domain = "" }),
            ("proxy.domain: \"\(String(repeating: "a.", count: 95))a\" is 191 characters; at most 189", { $0.domain = String(repeating: "a.", count: 95) + "a" }),
            ("data_dir: \(self.secret!) exists and is not a directory", { $0.dataDirectory = self.secret }),
            ("auth.jwt_secret_file: the HS256 secret file /nonexistent/secret does not exist", { $0.jwtSecretFile = "/nonexistent/secret" }),
            ("auth.jwt_secret_file: the HS256 secret file \(self.folder.path) is a directory, not a file", { $0.jwtSecretFile = self.folder.path }),
            ("auth.jwt_public_key_files: the public key file /nonexistent.pem does not exist", { $0.jwtPublicKeyFiles = ["/nonexistent.pem"] }),
            ("auth.roles_claim: must not be empty", { $0.rolesClaim = "" }),
            ("auth.jwt_issuer: must not be empty", { $0.jwtIssuer = "" }),
            ("registry.insecure: \"https://a\" is not HOST[:PORT]", { $0.insecureRegistries = ["https://a"] }),
            ("registry.mirrors: mirror \"m:5000\" of \"docker.io\" is not an http:// or https:// URL", { $0.registryMirrors = ["docker.io": ["m:5000"]] }),
            ("registry.docker_config: the Docker config /nonexistent.json does not exist", { $0.dockerConfig = "/nonexistent.json" }),
            ("cni.subnet: \"10.89.0.1/16\" has host bits set; did you mean 10.89.0.0/16?", { $0.cniSubnet = "10.89.0.1/16" }),
            ("cni.subnet: \"10.89.0.0/31\" has prefix length 31; expected 1–30", { $0.cniSubnet = "10.89.0.0/31" }),
            ("cni.subnet: \"10.89.0.0\" is not an IPv4 subnet; expected CIDR notation such as 10.89.0.0/16", { $0.cniSubnet = "10.89.0.0" }),
            ("cni.subnet: \"fd00::/64\" is not an IPv4 subnet", { $0.cniSubnet = "fd00::/64" }),
            ("cni.subnet: \"10.89/16\" is not an IPv4 subnet", { $0.cniSubnet = "10.89/16" }),
            ("cni.bridge: \"a-very-long-bridge\" is not a Linux interface name", { $0.cniBridge = "a-very-long-bridge" }),
            ("cni.bridge: \"br/0\" is not a Linux interface name", { $0.cniBridge = "br/0" }),
            ("api.max_body_bytes: 0 is out of range; expected 1 byte to 1Gi", { $0.maxBodyBytes = 0 }),
            ("api.max_body_bytes: 2147483648 is out of range", { $0.maxBodyBytes = 1 << 31 }),
            ("runtime.readiness_timeout: must be positive", { $0.readinessTimeout = .zero }),
            ("runtime.stop_grace_period: must be positive", { $0.stopGracePeriod = .seconds(-1) }),
            ("proxy.wake_timeout: must be positive", { $0.wakeTimeout = .zero }),
            ("proxy.idle_pause_after: must not be negative (0 turns it off)", { $0.idlePauseAfter = .seconds(-5) }),
            ("proxy.idle_stop_after: must be longer than proxy.idle_pause_after (1m30s) or 0", { $0.idlePauseAfter = .seconds(90); $0.idleStopAfter = .seconds(60) }),
            ("runtime.gpu_host_root: /nonexistent is not a directory", { $0.gpuHostRoot = "/nonexistent" }),
            ("log_level: \"verbose\" is not a log level; expected one of trace, debug, info, notice, warning, error, critical", { $0.logLevel = "verbose" }),
        ]
        for (expected, change) in cases {
            var configuration = valid()
            try change(&configuration)
            let message = validationError(configuration)
            XCTAssertTrue(message.hasPrefix(expected), "\(message)\nexpected: \(expected)")
        }
    }

    func testErrorsNameWhereTheValueCameFrom() throws {
        let file = try folder.write("berthd.toml", """
            [cni]
            subnet = "10.89.0.1/16"
            """)
        var flags = DaemonFlags()
        flags.configFile = file
        flags.jwtSecretFile = secret
        flags.dataDirectory = folder.path + "/data"
        XCTAssertEqual(validationError(try DaemonConfiguration.resolve(flags: flags, environment: [:])),
                       "\(file): cni.subnet: \"10.89.0.1/16\" has host bits set; did you mean 10.89.0.0/16?")

        XCTAssertEqual(validationError(try DaemonConfiguration.resolve(flags: flags, environment: ["BERTH_CNI_SUBNET": "10.0.0.0/8", "BERTH_DOMAIN": "x..y"])),
                       "environment variable BERTH_DOMAIN: \"x..y\" is not a DNS name (labels of 1–63 letters, digits and '-', not starting or ending with '-', no trailing dot); expected a DNS name such as localhost or run.example.com")

        flags.cniSubnet = "10.89.0.0/16"
        flags.jwtSecretFile = "missing-secret"
        let cwd = FileManager.default.currentDirectoryPath
        XCTAssertEqual(validationError(try DaemonConfiguration.resolve(flags: flags, environment: [:])),
                       "--jwt-secret-file: the HS256 secret file \(cwd)/missing-secret does not exist")
    }
}

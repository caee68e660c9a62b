import Daemon
import Foundation
import XCTest

final class ConfigurationResolveTests: XCTestCase {
    var folder: TemporaryFolder!

    override func setUpWithError() throws {
        folder = try TemporaryFolder()
    }

    override func tearDown() {
        folder = nil
    }

    /// Resolves with `toml` as the config file (an empty one by default, so the host's
    /// /etc/berth/berthd.toml never leaks in).
    func resolve(_ toml: String = "", environment: [String: String] = [:], flags: DaemonFlags = DaemonFlags()) throws -> DaemonConfiguration {
        var flags = flags
        if flags.configFile == nil { flags.configFile = try folder.write("berthd.toml", toml) }
        return try DaemonConfiguration.resolve(flags: flags, environment: environment)
    }

    /// The one-line description of the error `resolve` throws.
    func resolveError(_ toml: String = "", environment: [String: String] = [:], flags: DaemonFlags = DaemonFlags(),
                      file: StaticString = #filePath, line: UInt = #line) throws -> String {
        do {
            _ = try resolve(toml, environment: environment, flags: flags)
            XCTFail("resolved without an error", file: file, line: line)
            return ""
        } catch let error as ConfigurationError {
            XCTAssertFalse(error.description.contains("\n"), error.description, file: file, line: line)
            return error.description
        }
    }

    func testAnEmptyFileGivesTheBuiltInDefaults() throws {
        let configuration = try resolve()
        XCTAssertEqual(configuration, DaemonConfiguration.defaults)
        XCTAssertEqual(configuration.configFile, folder.path + "/berthd.toml")
        XCTAssertEqual(configuration.containerdSocket, "/run/containerd/containerd.sock")
        XCTAssertEqual(configuration.namespace, "berth")
        XCTAssertEqual(configuration.apiListen, ListenAddress(host: "127.0.0.1", port: 8080))
        XCTAssertEqual(configuration.proxyListen, ListenAddress(host: "127.0.0.1", port: 8081))
        XCTAssertEqual(configuration.domain, "localhost")
        XCTAssertEqual(configuration.dataDirectory, "/var/lib/berth")
        XCTAssertNil(configuration.jwtSecretFile)
        XCTAssertEqual(configuration.rolesClaim, "roles")
        XCTAssertEqual(configuration.cniSubnet, "10.89.0.0/16")
        XCTAssertEqual(configuration.cniBridge, "berth0")
        XCTAssertEqual(configuration.maxBodyBytes, 1_048_576)
        XCTAssertEqual(configuration.readinessTimeout, .seconds(120))
        XCTAssertEqual(configuration.stopGracePeriod, .seconds(10))
        XCTAssertEqual(configuration.pullTimeout, .seconds(600))
        XCTAssertEqual(configuration.startTimeout, .seconds(120))
        XCTAssertEqual(configuration.idlePauseAfter, .seconds(60))
        XCTAssertEqual(configuration.idleStopAfter, .seconds(900))
        XCTAssertEqual(configuration.wakeTimeout, .seconds(30))
        XCTAssertEqual(configuration.gpuHostRoot, "/")
        XCTAssertEqual(configuration.logLevel, "info")
        XCTAssertEqual(configuration.loggerLevel, .info)
        XCTAssertNil(configuration.source(of: "api.listen"))
    }

    func testEveryKeyOfTheFile() throws {
        let configuration = try resolve("""
            data_dir = "state"
            log_level = "DEBUG"

            [containerd]
            socket = "unix:///run/k3s/containerd/containerd.sock"
            namespace = "gpu-node"

            [api]
            listen = "[::1]:9090"
            max_body_bytes = "2Mi"

            [proxy]
            listen = ":80"
            domain = "Run.Example.COM"
            wake_timeout = "45s"
            idle_pause_after = "1m30s"
            idle_stop_after = 3600

            [auth]
            jwt_secret_file = "secret"
            jwt_public_key_files = ["keys/a.pem", "/etc/keys/b.pem"]
            jwt_issuer = "https://idp.example.com/"
            jwt_audience = "berth"
            roles_claim = "groups"

            [secrets]
            key_file = "keys/secret.key"

            [registry]
            insecure = ["10.0.0.5:5000", "registry.local"]
            docker_config = "/root/.docker/config.json"

            [registry.mirrors]
            "docker.io" = ["http://10.0.0.5:5000", "https://mirror.gcr.io"]
            "ghcr.io" = "http://10.0.0.6:5000"

            [cni]
            subnet = "10.200.0.0/20"
            bridge = "gpu0"

            [runtime]
            readiness_timeout = "5m"
            stop_grace_period = 2.5
            gpu_host_root = "../host"
            """)
        let base = folder.path
        XCTAssertEqual(configuration.dataDirectory, base + "/state")
        XCTAssertEqual(configuration.logLevel, "debug")
        XCTAssertEqual(configuration.loggerLevel, .debug)
        XCTAssertEqual(configuration.containerdSocket, "/run/k3s/containerd/containerd.sock")
        XCTAssertEqual(configuration.namespace, "gpu-node")
        XCTAssertEqual(configuration.apiListen, ListenAddress(host: "::1", port: 9090))
        XCTAssertEqual(configuration.maxBodyBytes, 2 << 20)
        XCTAssertEqual(configuration.proxyListen, ListenAddress(host: "", port: 80))
        XCTAssertEqual(configuration.domain, "run.example.com")
        XCTAssertEqual(configuration.wakeTimeout, .seconds(45))
        XCTAssertEqual(configuration.idlePauseAfter, .seconds(90))
        XCTAssertEqual(configuration.idleStopAfter, .seconds(3600))
        XCTAssertEqual(configuration.jwtSecretFile, base + "/secret")
        XCTAssertEqual(configuration.jwtPublicKeyFiles, [base + "/keys/a.pem", "/etc/keys/b.pem"])
        XCTAssertEqual(configuration.secretKeyFile, base + "/keys/secret.key")
        XCTAssertEqual(configuration.jwtIssuer, "https://idp.example.com/")
        XCTAssertEqual(configuration.jwtAudience, "berth")
        XCTAssertEqual(configuration.rolesClaim, "groups")
        XCTAssertEqual(configuration.insecureRegistries, ["10.0.0.5:5000", "registry.local"])
        XCTAssertEqual(configuration.dockerConfig, "/root/.docker/config.json")
        XCTAssertEqual(configuration.registryMirrors, [
            "docker.io": ["http://10.0.0.5:5000", "https://mirror.gcr.io"],
            "ghcr.io": ["http://10.0.0.6:5000"],
        ])
        XCTAssertEqual(configuration.cniSubnet, "10.200.0.0/20")
        XCTAssertEqual(configuration.cniBridge, "gpu0")
        XCTAssertEqual(configuration.readinessTimeout, .seconds(300))
        XCTAssertEqual(configuration.stopGracePeriod, .milliseconds(2500))
        XCTAssertEqual(configuration.gpuHostRoot, "/tmp/host")
        XCTAssertEqual(configuration.source(of: "api.listen"), .file(folder.path + "/berthd.toml"))
    }

    func testEnvironmentOverridesTheFileAndFlagsOverrideBoth() throws {
        let toml = """
            data_dir = "/srv/berth"
            [api]
            listen = "127.0.0.1:7000"
            [proxy]
            domain = "file.example"
            [registry]
            insecure = ["file:5000"]
            [cni]
            subnet = "10.1.0.0/16"
            """
        let environment = [
            "BERTH_API_LISTEN": "127.0.0.1:7001",
            "BERTH_DOMAIN": "env.example",
            "BERTH_INSECURE_REGISTRIES": "env-a:5000, env-b:5000,",
            "BERTH_NAMESPACE": "",  // empty: unset
            "BERTH_READINESS_TIMEOUT": "90",
            "BERTH_REGISTRY_MIRRORS": "docker.io=http://m1:5000,docker.io=http://m2:5000,quay.io=https://q",
            "BERTH_JWT_PUBLIC_KEY_FILES": "/k/a.pem,/k/b.pem",
            "BERTH_MAX_BODY_BYTES": "512Ki",
            "BERTH_LOG_LEVEL": "warning",
        ]
        var flags = DaemonFlags()
        flags.apiListen = "127.0.0.1:7002"
        flags.insecureRegistries = ["flag:5000"]
        flags.dataDirectory = "relative/data"
        flags.jwtSecretFile = "/etc/berth/secret"

        let fileOnly = try resolve(toml)
        XCTAssertEqual(fileOnly.apiListen.port, 7000)
        XCTAssertEqual(fileOnly.insecureRegistries, ["file:5000"])

        let withEnvironment = try resolve(toml, environment: environment)
        XCTAssertEqual(withEnvironment.apiListen.port, 7001)
        XCTAssertEqual(withEnvironment.domain, "env.example")
        XCTAssertEqual(withEnvironment.insecureRegistries, ["env-a:5000", "env-b:5000"])
        XCTAssertEqual(withEnvironment.namespace, "berth")
        XCTAssertEqual(withEnvironment.readinessTimeout, .seconds(90))
        XCTAssertEqual(withEnvironment.registryMirrors, ["docker.io": ["http://m1:5000", "http://m2:5000"], "quay.io": ["https://q"]])
        XCTAssertEqual(withEnvironment.jwtPublicKeyFiles, ["/k/a.pem", "/k/b.pem"])
        XCTAssertEqual(withEnvironment.maxBodyBytes, 512 * 1024)
        XCTAssertEqual(withEnvironment.logLevel, "warning")
        XCTAssertEqual(withEnvironment.cniSubnet, "10.1.0.0/16")
        XCTAssertEqual(withEnvironment.source(of: "api.listen"), .environment("BERTH_API_LISTEN"))

        let all = try resolve(toml, environment: environment, flags: flags)
        XCTAssertEqual(all.apiListen.port, 7002)
        XCTAssertEqual(all.insecureRegistries, ["flag:5000"], "a list from flags replaces the others")
        XCTAssertEqual(all.domain, "env.example")
        XCTAssertEqual(all.dataDirectory, FileManager.default.currentDirectoryPath + "/relative/data")
        XCTAssertEqual(all.jwtSecretFile, "/etc/berth/secret")
        XCTAssertEqual(all.cniSubnet, "10.1.0.0/16")
        XCTAssertEqual(all.source(of: "api.listen"), .flag("--api-listen"))
        XCTAssertEqual(all.source(of: "proxy.domain"), .environment("BERTH_DOMAIN"))
        XCTAssertEqual(all.source(of: "cni.subnet"), .file(folder.path + "/berthd.toml"))
    }

    func testEveryFlag() throws {
        var flags = DaemonFlags()
        flags.containerdSocket = "/s.sock"
        flags.namespace = "ns"
        flags.apiListen = ":1"
        flags.proxyListen = ":2"
        flags.domain = "d.example"
        flags.dataDirectory = "/d"
        flags.jwtSecretFile = "/secret"
        flags.jwtPublicKeyFiles = ["/a.pem"]
        flags.secretKeyFile = "/sk"
        flags.jwtIssuer = "iss"
        flags.jwtAudience = "aud"
        flags.rolesClaim = "r"
        flags.insecureRegistries = ["h:1"]
        flags.registryMirrors = ["docker.io=http://m:1"]
        flags.dockerConfig = "/dc.json"
        flags.cniSubnet = "10.9.0.0/24"
        flags.cniBridge = "b0"
        flags.maxBodyBytes = "100"
        flags.readinessTimeout = "1s"
        flags.stopGracePeriod = "2s"
        flags.pullTimeout = "3m"
        flags.startTimeout = "45s"
        flags.idlePauseAfter = "0"
        flags.idleStopAfter = "4s"
        flags.wakeTimeout = "5s"
        flags.gpuHostRoot = "/g"
        flags.logLevel = "trace"
        let c = try resolve(flags: flags)
        XCTAssertEqual(
            [c.containerdSocket, c.namespace, "\(c.apiListen)", "\(c.proxyListen)", c.domain, c.dataDirectory,
             c.jwtSecretFile, c.jwtIssuer, c.jwtAudience, c.rolesClaim, c.dockerConfig, c.cniSubnet, c.cniBridge,
             c.gpuHostRoot, c.logLevel],
            ["/s.sock", "ns", ":1", ":2", "d.example", "/d", "/secret", "iss", "aud", "r", "/dc.json", "10.9.0.0/24",
             "b0", "/g", "trace"])
        XCTAssertEqual(c.jwtPublicKeyFiles, ["/a.pem"])
        XCTAssertEqual(c.secretKeyFile, "/sk")
        XCTAssertEqual(c.insecureRegistries, ["h:1"])
        XCTAssertEqual(c.registryMirrors, ["docker.io": ["http://m:1"]])
        XCTAssertEqual(c.maxBodyBytes, 100)
        XCTAssertEqual([c.readinessTimeout, c.stopGracePeriod, c.idlePauseAfter, c.idleStopAfter, c.wakeTimeout],
                       [.seconds(1), .seconds(2), .zero, .seconds(4), .seconds(5)])
        XCTAssertEqual([c.pullTimeout, c.startTimeout], [.seconds(180), .seconds(45)])
    }

    func testTheConfigFileIsChosenByFlagThenEnvironment() throws {
        let fromFlag = try folder.write("flag.toml", "[proxy]\ndomain = \"flag.example\"\n")
        let fromEnvironment = try folder.write("env.toml", "[proxy]\ndomain = \"env.example\"\n")
        var flags = DaemonFlags()
        flags.configFile = fromFlag
        XCTAssertEqual(try DaemonConfiguration.resolve(flags: flags, environment: ["BERTH_CONFIG": fromEnvironment]).domain, "flag.example")
        XCTAssertEqual(try DaemonConfiguration.resolve(flags: DaemonFlags(), environment: ["BERTH_CONFIG": fromEnvironment]).domain, "env.example")
        XCTAssertEqual(try DaemonConfiguration.resolve(flags: DaemonFlags(), environment: ["BERTH_CONFIG": fromEnvironment]).configFile, fromEnvironment)
    }

    func testANamedFileMustExist() throws {
        var flags = DaemonFlags()
        flags.configFile = folder.path + "/missing.toml"
        XCTAssertEqual(try resolveError(flags: flags), "--config: configuration file \(folder.path)/missing.toml does not exist")
        XCTAssertEqual(try resolveError(flags: { var f = DaemonFlags(); f.configFile = folder.path; return f }()),
                       "--config: configuration file \(folder.path) is a directory")
        XCTAssertThrowsError(try DaemonConfiguration.resolve(flags: DaemonFlags(), environment: ["BERTH_CONFIG": "/nonexistent/berthd.toml"])) {
            XCTAssertEqual("\($0)", "environment variable BERTH_CONFIG: configuration file /nonexistent/berthd.toml does not exist")
        }
    }

    func testUnknownKeysAreErrors() throws {
        let path = folder.path + "/berthd.toml"
        XCTAssertEqual(try resolveError("[api]\nlissten = \"127.0.0.1:1\"\n"),
                       "\(path): api.lissten: unknown key; [api] accepts listen, max_body_bytes")
        XCTAssertEqual(try resolveError("datadir = \"/x\"\n"),
                       "\(path): datadir: unknown key; the top level accepts data_dir, log_level, [containerd], [api], [proxy], [autoscaler], [auth], [secrets], [registry], [cni], [runtime], [node], [quota]")
        XCTAssertEqual(try resolveError("[apis]\nlisten = \":1\"\n"),
                       "\(path): apis: unknown key; the top level accepts data_dir, log_level, [containerd], [api], [proxy], [autoscaler], [auth], [secrets], [registry], [cni], [runtime], [node], [quota]")
        XCTAssertEqual(try resolveError("[proxy]\ndomain = \"x\"\n[proxy.extra]\na = 1\n"),
                       "\(path): proxy.extra: unknown key; [proxy] accepts listen, domain, wake_timeout, idle_pause_after, idle_stop_after, header_timeout, idle_timeout, queue_limit, max_connections, max_connections_per_client, trusted_proxies")
    }

    func testWrongTypesNameTheKey() throws {
        let path = folder.path + "/berthd.toml"
        let cases: [(String, String)] = [
            ("[api]\nlisten = 8080\n", "api.listen: expected a string, found an integer"),
            ("api = 5\n", "api: expected a table ([api]), found an integer"),
            ("data_dir = true\n", "data_dir: expected a string, found a boolean"),
            ("[registry]\ninsecure = \"a:5000\"\n", "registry.insecure: expected an array of strings, found a string"),
            ("[registry]\ninsecure = [\"a:5000\", 5]\n", "registry.insecure: element 2 is an integer; expected an array of strings"),
            ("[registry]\nmirrors = [\"x\"]\n", "registry.mirrors: \"x\" is not REGISTRY=URL (e.g. docker.io=http://10.0.0.5:5000)"),
            ("[registry.mirrors]\n\"docker.io\" = 5\n", "registry.mirrors: the mirrors of \"docker.io\" are an integer; expected an array of URLs"),
            ("[registry.mirrors]\n\"docker.io\" = [\"ftp://m\"]\n", "registry.mirrors: mirror \"ftp://m\" of \"docker.io\" is not an http:// or https:// URL"),
            ("[runtime]\nreadiness_timeout = 1979-05-27\n", "runtime.readiness_timeout: expected a duration (a string such as \"90s\" or a number of seconds), found a date"),
            ("[runtime]\nreadiness_timeout = \"2 minutes\"\n", "runtime.readiness_timeout: \"2 minutes\" is not a duration; expected a number with a unit (500ms, 90s, 2m, 1h30m) or plain seconds"),
            ("[runtime]\nstop_grace_period = -1\n", "runtime.stop_grace_period: -1 is negative"),
            ("[runtime]\nstop_grace_period = \"-1s\"\n", "runtime.stop_grace_period: \"-1s\" is negative"),
            ("[api]\nmax_body_bytes = \"1 MB\"\n", "api.max_body_bytes: \"1 MB\" is not a size; expected bytes, optionally with a suffix: 1048576, 512Ki, 1Mi, 2M"),
            ("[api]\nmax_body_bytes = 1.5\n", "api.max_body_bytes: expected a size (an integer number of bytes or a string such as \"1Mi\"), found a floating-point number"),
            ("[proxy]\nlisten = \"80\"\n", "proxy.listen: \"80\" has no host; write :80 for every interface or 127.0.0.1:80 for loopback only"),
            ("[containerd]\nnamespace = \"\"\n", "containerd.namespace: must not be empty"),
        ]
        for (toml, expected) in cases {
            let message = try resolveError(toml)
            XCTAssertTrue(message.hasPrefix("\(path): \(expected)"), "\(toml)\n→ \(message)\nexpected: \(expected)")
        }
    }

    func testEnvironmentAndFlagErrorsNameTheirSource() throws {
        XCTAssertEqual(try resolveError(environment: ["BERTH_API_LISTEN": "localhost"]),
                       "environment variable BERTH_API_LISTEN: \"localhost\" has no port; expected HOST:PORT, [IPV6]:PORT or :PORT (e.g. 127.0.0.1:8080)")
        XCTAssertEqual(try resolveError(environment: ["BERTH_WAKE_TIMEOUT": "soon"]),
                       "environment variable BERTH_WAKE_TIMEOUT: \"soon\" is not a duration; expected a number with a unit (500ms, 90s, 2m, 1h30m) or plain seconds")
        XCTAssertEqual(try resolveError(environment: ["BERTH_REGISTRY_MIRRORS": "docker.io"]),
                       "environment variable BERTH_REGISTRY_MIRRORS: \"docker.io\" is not REGISTRY=URL (e.g. docker.io=http://10.0.0.5:5000)")
        var flags = DaemonFlags()
        flags.proxyListen = "[::1]:99999"
        XCTAssertEqual(try resolveError(flags: flags),
                       "--proxy-listen: \"[::1]:99999\" has port 99999, out of range 1–65535; expected HOST:PORT, [IPV6]:PORT or :PORT (e.g. 127.0.0.1:8080)")
        flags = DaemonFlags()
        flags.insecureRegistries = ["http://a:5000"]
        XCTAssertEqual(try resolveError(flags: flags),
                       "--insecure-registry: \"http://a:5000\" is not HOST[:PORT] (no scheme or path), e.g. 10.0.0.5:5000")
        flags = DaemonFlags()
        flags.maxBodyBytes = "lots"
        XCTAssertTrue(try resolveError(flags: flags).hasPrefix("--max-body-bytes: \"lots\" is not a size"))
    }

    func testSyntaxErrorsGiveTheLine() throws {
        let message = try resolveError("[api]\nlisten = \"127.0.0.1:1\"\nthis is not toml\n")
        XCTAssertTrue(message.hasPrefix(folder.path + "/berthd.toml: invalid TOML at line 3, column "), message)
    }

    func testDurations() throws {
        let cases: [(String, Duration)] = [
            ("0", .zero), ("90", .seconds(90)), ("90s", .seconds(90)), ("500ms", .milliseconds(500)),
            ("2m", .seconds(120)), ("1h30m", .seconds(5400)), ("1.5h", .seconds(5400)), ("0.1h", .seconds(360)),
            ("1m30s250ms", .milliseconds(90_250)), ("1d", .seconds(86_400)), ("250us", .microseconds(250)), (".5s", .milliseconds(500)),
        ]
        for (text, expected) in cases {
            var flags = DaemonFlags()
            flags.readinessTimeout = text
            XCTAssertEqual(try resolve(flags: flags).readinessTimeout, expected, text)
        }
        for text in ["", "s", "1x", "1h 30m", "1..5s", "ms", "1.s5", "99999999999h"] {
            var flags = DaemonFlags()
            flags.readinessTimeout = text
            if text.isEmpty {
                XCTAssertEqual(try resolveError(flags: flags), "--readiness-timeout: \"\" is not a duration; expected a number with a unit (500ms, 90s, 2m, 1h30m) or plain seconds")
            } else {
                XCTAssertTrue(try resolveError(flags: flags).contains("is not a duration"), text)
            }
        }
    }

    func testByteSizes() throws {
        let cases: [(String, Int)] = [("1", 1), ("1048576", 1 << 20), ("512Ki", 512 << 10), ("1Mi", 1 << 20), ("1MiB", 1 << 20),
                                      ("2M", 2_000_000), ("1k", 1000), ("1Gi", 1 << 30), ("10B", 10),
                                      ("1K", 1000), ("1KB", 1000), ("2GB", 2_000_000_000), ("1.5Ki", 1536), ("1e6", 1_000_000)]
        for (text, expected) in cases {
            XCTAssertEqual(try resolve(environment: ["BERTH_MAX_BODY_BYTES": text]).maxBodyBytes, expected, text)
        }
        XCTAssertEqual(try resolve("[api]\nmax_body_bytes = 4096\n").maxBodyBytes, 4096)
        // The same Quantity grammar as the API's sizes: one parser.
        for text in ["B", "1 Mi", "-1", "1MiBB", "1mi", "1KiK", "ten"] {
            XCTAssertThrowsError(try resolve(environment: ["BERTH_MAX_BODY_BYTES": text]), text) { error in
                XCTAssertTrue("\(error)".contains("is not a size"), "\(text): \(error)")
            }
        }
    }

    func testDocumentedSettingsAreUniqueAndInTheDefaultConfigFile() throws {
        let settings = DaemonConfiguration.documentedSettings
        XCTAssertEqual(settings.count, 51)
        XCTAssertEqual(Set(settings.map(\.key)).count, settings.count)
        XCTAssertEqual(Set(settings.map(\.environment)).count, settings.count)
        XCTAssertEqual(Set(settings.map(\.flag)).count, settings.count)
        let shipped = try String(contentsOfFile: repositoryRoot + "/systemd/berthd.toml", encoding: .utf8)
        for setting in settings {
            let name = String(setting.key.split(separator: ".").last!)
            XCTAssertTrue(shipped.contains("\n\(name) =") || shipped.contains("\n#\(name) =") || name == "mirrors", "\(setting.key) is not in systemd/berthd.toml")
            XCTAssertTrue(shipped.contains(setting.environment), "\(setting.environment) is not in systemd/berthd.toml")
            XCTAssertTrue(shipped.contains(setting.flag), "\(setting.flag) is not in systemd/berthd.toml")
        }
    }

    func testTheShippedConfigFileResolvesAndValidates() throws {
        var flags = DaemonFlags()
        flags.configFile = repositoryRoot + "/systemd/berthd.toml"
        var configuration = try DaemonConfiguration.resolve(flags: flags, environment: [:])
        XCTAssertEqual(configuration.proxyListen, ListenAddress(host: "0.0.0.0", port: 80))
        XCTAssertEqual(configuration.apiListen, ListenAddress(host: "127.0.0.1", port: 8080))
        XCTAssertEqual(configuration.jwtSecretFile, "/etc/berth/jwt-secret")
        XCTAssertEqual(configuration.dataDirectory, "/var/lib/berth")

        // Every commented-out value, uncommented, is accepted too (and equals the built-in default
        // where it shows one).
        let uncommented = try String(contentsOfFile: flags.configFile!, encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in line.hasPrefix("#") && !line.hasPrefix("# ") && line.count > 1 ? line.dropFirst() : line }
            .joined(separator: "\n")
        let all = try resolve(uncommented)
        XCTAssertEqual(all.registryMirrors, ["docker.io": ["http://10.0.0.5:5000"]])
        XCTAssertEqual(all.maxBodyBytes, DaemonConfiguration.defaults.maxBodyBytes)
        XCTAssertEqual(all.idleStopAfter, DaemonConfiguration.defaults.idleStopAfter)

        configuration.jwtSecretFile = try folder.write("jwt-secret", "secret\n", mode: 0o600)
        XCTAssertNoThrow(try configuration.validate())
    }
}

import Foundation
import TOMLKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension DaemonConfiguration {
    /// Builds the configuration from its sources; a later source overrides an earlier one setting by
    /// setting (a list or a mirror table is replaced whole, not merged):
    ///
    /// 1. the built-in ``defaults``;
    /// 2. a TOML file: `flags.configFile` (`--config`), else `BERTH_CONFIG`, else
    ///    ``defaultConfigFile`` if it exists. A file named by the flag or the variable must exist.
    ///    Unknown keys and values of the wrong type are errors. Relative paths in the file are
    ///    relative to the file's folder;
    /// 3. environment variables, one per setting (``documentedSettings``: `BERTH_API_LISTEN`, …);
    ///    an empty variable counts as unset; lists are comma-separated
    ///    (`BERTH_INSECURE_REGISTRIES=a:5000,b:5000`, `BERTH_REGISTRY_MIRRORS=docker.io=http://m:5000`);
    /// 4. `flags`. Relative paths from the environment and flags are relative to the current directory.
    ///
    /// Checks formats only (types, listen addresses, durations, sizes, mirror URLs); call
    /// ``validate()`` for the rest.
    public static func resolve(flags: DaemonFlags, environment: [String: String]) throws(ConfigurationError) -> DaemonConfiguration {
        var configuration = DaemonConfiguration.defaults
        let currentDirectory = FileManager.default.currentDirectoryPath
        let settings = SettingTable.all

        if let file = try configFile(flags: flags, environment: environment) {
            let table = try readTOML(path: file, currentDirectory: currentDirectory)
            let folder = ValueParser.absolutePath(file, relativeTo: currentDirectory)
                .split(separator: "/").dropLast().joined(separator: "/")
            try configuration.apply(file: table, path: file, baseDirectory: "/" + folder)
            configuration.origins.file = file
        }

        for setting in settings {
            guard let text = environment[setting.environment], !text.isEmpty else { continue }
            let value: RawValue = setting.isList
                ? .array(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map(RawValue.string))
                : .string(text)
            let context = SettingContext(key: setting.key, source: .environment(setting.environment), baseDirectory: currentDirectory)
            try setting.apply(&configuration, value, context)
            configuration.origins.byKey[setting.key] = context.source
        }

        for (key, value) in flags.values() {
            guard let setting = settings.first(where: { $0.key == key }) else { continue }
            let context = SettingContext(key: key, source: .flag(setting.flag), baseDirectory: currentDirectory)
            try setting.apply(&configuration, value, context)
            configuration.origins.byKey[key] = context.source
        }
        return configuration
    }

    /// The file to read, or nil when none is named and the default one does not exist.
    static func configFile(flags: DaemonFlags, environment: [String: String]) throws(ConfigurationError) -> String? {
        let named: (path: String, source: ConfigurationError.Source)?
        if let path = flags.configFile {
            named = (path, .flag("--config"))
        } else if let path = environment["BERTH_CONFIG"], !path.isEmpty {
            named = (path, .environment("BERTH_CONFIG"))
        } else {
            named = nil
        }
        guard let named else {
            return FileManager.default.fileExists(atPath: defaultConfigFile) ? defaultConfigFile : nil
        }
        guard !named.path.isEmpty else {
            throw ConfigurationError(setting: "", source: named.source, problem: "the configuration file path is empty")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: named.path, isDirectory: &isDirectory) else {
            throw ConfigurationError(setting: "", source: named.source, problem: "configuration file \(named.path) does not exist")
        }
        guard !isDirectory.boolValue else {
            throw ConfigurationError(setting: "", source: named.source, problem: "configuration file \(named.path) is a directory")
        }
        return named.path
    }

    static func readTOML(path: String, currentDirectory: String) throws(ConfigurationError) -> [(key: String, value: RawValue)] {
        func fail(_ problem: String) -> ConfigurationError {
            ConfigurationError(setting: "", source: .file(path), problem: problem)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw fail(isDirectory.boolValue ? "is a directory" : "does not exist")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = access(path, R_OK) == 0 ? "unknown error" : String(cString: strerror(errno))
            throw fail("cannot be read: \(reason)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw fail("is not UTF-8 text") }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw fail("invalid TOML at line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
        } catch {
            throw fail("invalid TOML: \(error)")
        }
        return entries(of: table)
    }

    static func entries(of table: TOMLTable) -> [(key: String, value: RawValue)] {
        table.keys.compactMap { key in table[key].map { (key, rawValue($0)) } }
    }

    static func rawValue(_ value: TOMLValueConvertible) -> RawValue {
        switch value.type {
        case .string: return .string(value.string ?? "")
        case .int: return .integer(value.int ?? 0)
        case .double: return .float(value.double ?? 0)
        case .bool: return .boolean(value.bool ?? false)
        case .array: return .array(value.array.map { $0.map(rawValue) } ?? [])
        case .table: return .table(value.table.map(entries(of:)) ?? [])
        case .date, .time, .dateTime: return .other(value.type.description)
        }
    }

    /// Applies a parsed file: known tables and keys only.
    mutating func apply(file entries: [(key: String, value: RawValue)], path: String, baseDirectory: String) throws(ConfigurationError) {
        let tables = SettingTable.tableNames
        func apply(_ key: String, _ value: RawValue) throws(ConfigurationError) {
            let setting = SettingTable.setting(key)!
            try setting.apply(&self, value, SettingContext(key: key, source: .file(path), baseDirectory: baseDirectory))
            origins.byKey[key] = .file(path)
        }
        for (name, value) in entries {
            if SettingTable.setting(name) != nil {
                try apply(name, value)
            } else if tables.contains(name) {
                guard case .table(let children) = value else {
                    throw ConfigurationError(setting: name, source: .file(path),
                                             problem: "expected a table ([\(name)]), found \(value.typeName)")
                }
                let accepted = SettingTable.keys(in: name)
                for (child, childValue) in children {
                    guard accepted.contains(child) else {
                        throw ConfigurationError(setting: "\(name).\(child)", source: .file(path),
                                                 problem: "unknown key; [\(name)] accepts \(accepted.joined(separator: ", "))")
                    }
                    try apply("\(name).\(child)", childValue)
                }
            } else {
                let accepted = SettingTable.keys(in: "") + tables.map { "[\($0)]" }
                throw ConfigurationError(setting: name, source: .file(path),
                                         problem: "unknown key; the top level accepts \(accepted.joined(separator: ", "))")
            }
        }
    }
}

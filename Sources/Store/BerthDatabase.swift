import BerthModel
import Foundation
import GRDB
import Synchronization

/// The node's desired state: containers, their immutable revisions and GPU allocations, in one
/// SQLite file.
///
/// Durability: WAL journal with `synchronous = FULL`, so every commit fsyncs the WAL before the
/// write returns; a change a method accepted survives a crash of the process and of the machine.
/// Every method that changes more than one row does it in one transaction.
///
/// Methods block the calling thread for one short transaction. Writes are serialised; reads run
/// concurrently with each other and with the writer.
public final class BerthDatabase: Sendable {
    /// The database file name inside the data folder.
    public static let fileName = "berth.sqlite"

    /// The database file, or nil for an in-memory database.
    public let path: String?
    let writer: any DatabaseWriter
    private let committedChanges = Atomic<UInt64>(0)
    private let committedRequests = Atomic<UInt64>(0)
    /// Subscribers to per-container change events (`observeContainerChanges`).
    let containerChanges = ContainerChangeHub()
    /// What creates and updates are checked against (`setCapacityPolicy`).
    let capacity = Mutex<CapacityPolicy>(.unlimited)

    /// Opens (creating if needed) the database at `path`, and migrates it.
    public init(path: String) throws {
        try Self.prepareFile(at: path)
        self.path = path
        let pool = try DatabasePool(path: path, configuration: Self.configuration())
        // Set here, not in prepareDatabase: GRDB sets NORMAL on the writer after that runs, and
        // the writer connection lives as long as the pool.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        self.writer = pool
        try Self.migrate(writer)
    }

    /// Opens `<dataFolder>/berth.sqlite`.
    public convenience init(dataFolder: String) throws {
        try self.init(path: URL(fileURLWithPath: dataFolder).appendingPathComponent(Self.fileName).path)
    }

    private init(writer: any DatabaseWriter) throws {
        self.path = nil
        self.writer = writer
        try Self.migrate(writer)
    }

    /// A private database in memory, gone when the value is.
    public static func inMemory() throws -> BerthDatabase {
        try BerthDatabase(writer: DatabaseQueue(configuration: configuration()))
    }

    /// A number that grows after every change committed through this value (not by other
    /// processes). To cache something derived from reads (a rendered list), read this first,
    /// then the data, and keep the result under the number read: a later change makes it stale.
    public var changeCount: UInt64 { committedChanges.load(ordering: .acquiring) }

    /// As `changeCount`, counting only changes that are not recorded observations (a status or
    /// an image digest the runtime reported): those a client's request made, or a rollout.
    public var requestedChangeCount: UInt64 { committedRequests.load(ordering: .acquiring) }

    /// Runs `updates` in one write transaction; the change counts grow once it has committed
    /// (`observation`: it records what the runtime reported, which `requestedChangeCount` leaves
    /// out). A full disk and other failures of SQLite itself become `StoreError.diskFull` and
    /// `.unavailable`; the transaction was rolled back, so nothing of it was written.
    func change<T: Sendable>(observation: Bool = false, _ updates: @Sendable (Database) throws -> T) throws -> T {
        let result: T
        do {
            result = try writer.write(updates)
        } catch let error as DatabaseError {
            throw Self.storeError(error)
        }
        if !observation { committedRequests.add(1, ordering: .releasing) }
        committedChanges.add(1, ordering: .releasing)
        return result
    }

    static func storeError(_ error: DatabaseError) -> any Error {
        switch error.resultCode {
        case .SQLITE_FULL: StoreError.diskFull
        case .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_IOERR, .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_NOMEM,
             .SQLITE_PROTOCOL:
            StoreError.unavailable(error.message ?? "\(error.resultCode)")
        default: error
        }
    }

    /// Closes the connections, checkpointing the WAL into the main file. Later calls throw.
    public func close() throws {
        try writer.close()
    }

    /// The settings the writing connection runs with, for the startup log and for tests.
    public func settings() throws -> StoreSettings {
        try writer.writeWithoutTransaction { db in
            StoreSettings(
                journalMode: try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "",
                synchronous: try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1,
                foreignKeys: try Bool.fetchOne(db, sql: "PRAGMA foreign_keys") ?? false,
                migrations: try Migrations.migrator.appliedMigrations(db))
        }
    }

    static func configuration() -> Configuration {
        var configuration = Configuration()
        configuration.label = "berth"
        configuration.foreignKeysEnabled = true
        // Another process (an operator's sqlite3, a second berthd refusing to start) may hold
        // the write lock for a moment; wait for it instead of failing the request.
        configuration.busyMode = .timeout(10)
        return configuration
    }

    /// Creates the folder (0700) and an empty file (0600) if missing: env may hold secrets, and
    /// SQLite gives the WAL and shared-memory files the main file's permissions.
    static func prepareFile(at path: String) throws {
        let url = URL(fileURLWithPath: path)
        let manager = FileManager.default
        let folder = url.deletingLastPathComponent().path
        if !manager.fileExists(atPath: folder) {
            try manager.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                        attributes: [.posixPermissions: 0o700])
        }
        if !manager.fileExists(atPath: path) {
            _ = manager.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
    }

    static func migrate(_ writer: any DatabaseWriter) throws {
        let migrator = Migrations.migrator
        let unknown = try writer.read { db in
            try migrator.appliedIdentifiers(db).subtracting(migrator.migrations)
        }
        if !unknown.isEmpty { throw StoreError.newerSchema(unknown.sorted()) }
        try migrator.migrate(writer)
    }
}

/// How the database is set up; see `BerthDatabase.settings()`.
public struct StoreSettings: Sendable, Equatable {
    /// "wal" for a file, "memory" in memory.
    public var journalMode: String
    /// SQLite's `PRAGMA synchronous`: 2 is FULL.
    public var synchronous: Int
    public var foreignKeys: Bool
    /// The migrations applied, in order.
    public var migrations: [String]
}

import Foundation
import GRDB

/// The schema, as named migrations in code. Append only: a shipped migration is never edited,
/// since databases in the field have already run it; change the schema with a new one.
///
/// Dates are INTEGER milliseconds since 1970 (UTC): exact round trips and cheap to sort.
/// Enum columns hold the Swift raw values; they carry no CHECK so that adding a phase needs no
/// table rebuild.
enum Migrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 containers, revisions, GPU allocations") { db in
            try db.execute(sql: """
                CREATE TABLE container (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL UNIQUE,
                    owner TEXT NOT NULL,
                    revision INTEGER NOT NULL,
                    latestRevision INTEGER NOT NULL,
                    phase TEXT NOT NULL,
                    statusMessage TEXT,
                    keepWarm INTEGER NOT NULL DEFAULT 0,
                    createdAt INTEGER NOT NULL,
                    updatedAt INTEGER NOT NULL
                );
                CREATE INDEX container_on_owner ON container(owner, createdAt);
                CREATE INDEX container_on_createdAt ON container(createdAt);

                CREATE TABLE revision (
                    containerID TEXT NOT NULL REFERENCES container(id) ON DELETE CASCADE,
                    number INTEGER NOT NULL,
                    image TEXT NOT NULL,
                    cpu REAL NOT NULL,
                    memory TEXT NOT NULL,
                    ephemeralStorage TEXT NOT NULL,
                    gpu INTEGER NOT NULL,
                    port INTEGER NOT NULL,
                    env TEXT NOT NULL,
                    imageDigest TEXT,
                    phase TEXT NOT NULL,
                    message TEXT,
                    createdAt INTEGER NOT NULL,
                    PRIMARY KEY (containerID, number)
                );

                CREATE TABLE gpu_allocation (
                    device TEXT PRIMARY KEY NOT NULL,
                    containerID TEXT NOT NULL,
                    revision INTEGER NOT NULL,
                    FOREIGN KEY (containerID, revision) REFERENCES revision(containerID, number) ON DELETE CASCADE
                );
                CREATE INDEX gpu_allocation_on_container ON gpu_allocation(containerID, revision);
                """)
        }
        migrator.registerMigration("v2 revision gpuModel") { db in
            // The model a revision asked for, so that a PUT that keeps it asks for it again.
            try db.execute(sql: "ALTER TABLE revision ADD COLUMN gpuModel TEXT")
        }
        migrator.registerMigration("v3 node identity") { db in
            // One row: the identity this database labels its containerd objects and network
            // records with (BerthDatabase+Node.swift). `firstContainerAt` tells a database that
            // has never recorded a container from one in use; the trigger sets it on the first
            // insert, whoever inserts. A database from before v3 that holds containers was in use
            // before labels existed: it adopts Berth's unlabelled objects (`adoptsUnlabelled`).
            try db.execute(sql: """
                CREATE TABLE node (
                    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
                    identity TEXT NOT NULL,
                    createdAt INTEGER NOT NULL,
                    firstContainerAt INTEGER,
                    adoptsUnlabelled INTEGER NOT NULL
                );
                INSERT INTO node (singleton, identity, createdAt, firstContainerAt, adoptsUnlabelled)
                    SELECT 1, ?, ?, MIN(createdAt), COUNT(*) > 0 FROM container;
                CREATE TRIGGER container_marks_node_in_use AFTER INSERT ON container
                    WHEN (SELECT firstContainerAt FROM node) IS NULL
                    BEGIN UPDATE node SET firstContainerAt = NEW.createdAt WHERE singleton = 1; END;
                """, arguments: [UUID().uuidString.lowercased(), StoredDate.milliseconds(Date())])
        }
        migrator.registerMigration("v4 idle revisions") { db in
            // A serving revision the traffic controller stopped for want of requests
            // (BerthDatabase+Idle.swift): it stays stopped across restarts until a request comes.
            try db.execute(sql: """
                CREATE TABLE idle_revision (
                    containerID TEXT PRIMARY KEY NOT NULL REFERENCES container(id) ON DELETE CASCADE,
                    revision INTEGER NOT NULL,
                    since INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v5 revision scaling") { db in
            // Concurrency, instances and the request timeout, per revision (ScalingPolicy). A
            // container kept warm before this had one instance always running: minInstances 1.
            try db.execute(sql: """
                ALTER TABLE revision ADD COLUMN concurrency INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE revision ADD COLUMN minInstances INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE revision ADD COLUMN maxInstances INTEGER NOT NULL DEFAULT 1;
                ALTER TABLE revision ADD COLUMN timeoutSeconds INTEGER NOT NULL DEFAULT 300;
                UPDATE revision SET minInstances = 1 WHERE containerID IN (SELECT id FROM container WHERE keepWarm = 1);
                """)
            // GPUs of the instances above the first, which the reconciler allocates as it starts them.
            try db.execute(sql: "ALTER TABLE gpu_allocation ADD COLUMN instance INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v6 volumes and secrets") { db in
            // Volumes and secrets are their owner's, named per owner. A secret's value is stored
            // sealed with the node's key (never in the clear); `version` grows with each change.
            // A revision names the volumes and secrets it uses; the values stay in `secret`.
            try db.execute(sql: """
                CREATE TABLE volume (
                    id TEXT PRIMARY KEY NOT NULL,
                    owner TEXT NOT NULL,
                    name TEXT NOT NULL,
                    size TEXT NOT NULL,
                    createdAt INTEGER NOT NULL,
                    UNIQUE (owner, name)
                );
                CREATE TABLE secret (
                    owner TEXT NOT NULL,
                    name TEXT NOT NULL,
                    sealed BLOB NOT NULL,
                    size INTEGER NOT NULL,
                    version INTEGER NOT NULL,
                    createdAt INTEGER NOT NULL,
                    updatedAt INTEGER NOT NULL,
                    PRIMARY KEY (owner, name)
                );
                ALTER TABLE revision ADD COLUMN secretEnv TEXT NOT NULL DEFAULT '{}';
                ALTER TABLE revision ADD COLUMN volumes TEXT NOT NULL DEFAULT '[]';
                ALTER TABLE revision ADD COLUMN secretMounts TEXT NOT NULL DEFAULT '[]';
                """)
        }
        migrator.registerMigration("v7 revision protocol") { db in
            // The HTTP the container serves on its port (ServingProtocol's raw value): the proxy
            // speaks h2c to a revision that says so. Every revision before this served HTTP/1.1.
            try db.execute(sql: "ALTER TABLE revision ADD COLUMN protocol TEXT NOT NULL DEFAULT 'http1'")
        }
        return migrator
    }
}

/**
 * Schema migrations, applied in order inside one transaction each. Append only: a released
 * migration is never edited, so every data dir can be brought forward from any version.
 */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE profiles (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE machines (
    name TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE machine_macs (
    mac TEXT PRIMARY KEY,
    machine TEXT NOT NULL REFERENCES machines(name) ON DELETE CASCADE
  );
  CREATE INDEX machine_macs_machine ON machine_macs(machine);
  CREATE TABLE status (
    machine TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    version INTEGER NOT NULL
  );
  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    machine TEXT,
    at INTEGER NOT NULL,
    level TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    mac TEXT,
    ip TEXT,
    data TEXT
  );
  CREATE INDEX events_machine ON events(machine, id);
  CREATE TABLE tokens (
    token TEXT PRIMARY KEY,
    machine TEXT NOT NULL,
    install_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX tokens_machine ON tokens(machine);
  CREATE TABLE leases (
    mac TEXT PRIMARY KEY,
    ip TEXT NOT NULL UNIQUE,
    subnet TEXT NOT NULL,
    state TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    hostname TEXT,
    client_id TEXT,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX leases_subnet ON leases(subnet);
  `,
  // Revoked tokens stay (a late callback of a finished install is told 410, not 403); events are
  // pruned by age; the health check writes one row.
  `
  ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;
  CREATE INDEX events_at ON events(at);
  CREATE TABLE heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL);
  `,
  // Discovery: hardware facts per machine (gone with it), rules, boxes that reported without
  // being machines, and one discovery token per MAC (a new boot replaces the previous one).
  `
  CREATE TABLE hardware (
    machine TEXT PRIMARY KEY REFERENCES machines(name) ON DELETE CASCADE,
    body TEXT NOT NULL,
    source TEXT NOT NULL,
    reported_at INTEGER NOT NULL
  );
  CREATE TABLE rules (
    name TEXT PRIMARY KEY,
    priority INTEGER NOT NULL,
    body TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE discovered (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    body TEXT NOT NULL,
    seen_at INTEGER NOT NULL
  );
  CREATE TABLE discovery_tokens (
    token TEXT PRIMARY KEY,
    mac TEXT NOT NULL UNIQUE,
    ip TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    entry_id TEXT,
    revoked_at INTEGER
  );
  CREATE INDEX discovery_tokens_expires ON discovery_tokens(expires_at);
  `,
  // Replacement by cabling: MACs of boxes a slot no longer has (never installed again), and each
  // machine's history of boxes.
  `
  CREATE TABLE retired_macs (
    mac TEXT PRIMARY KEY,
    machine TEXT NOT NULL,
    retired_at INTEGER NOT NULL
  );
  CREATE TABLE replacements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    machine TEXT NOT NULL,
    at INTEGER NOT NULL,
    body TEXT NOT NULL
  );
  CREATE INDEX replacements_machine ON replacements(machine, id);
  `,
  // Several instances on one database: which one wrote each event (NULL for older events).
  `
  ALTER TABLE events ADD COLUMN instance TEXT;
  `,
];

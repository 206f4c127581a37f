/**
 * The PostgreSQL schema: the tables of migrations.ts (SQLite) in PostgreSQL's dialect. Applied
 * in order, each in its own transaction, under an advisory lock (postgres.ts: two instances
 * starting at once do not race), and recorded in schema_migrations. Append only: a released
 * migration is never edited. Versions count PostgreSQL's own list: version 1 here is SQLite's
 * 1–4 together (the PostgreSQL store started from that schema), version 2 SQLite's 5.
 *
 * JSON bodies are TEXT, written and read as JSON.stringify gives them: nothing queries inside a
 * body, a text round-trips exactly, and parsed bodies are cached by their text (as in sqlite.ts).
 * Times are epoch milliseconds in BIGINT; ids come from sequences.
 */

/** The advisory lock key migrations run under ('ks' 'mg' in ASCII). */
export const MIGRATION_LOCK_KEY = 0x6b736d67;

/** The advisory lock key event inserts take until they commit, so event ids commit in order. */
export const EVENT_LOCK_KEY = 0x6b736576;

export const PG_MIGRATIONS: string[] = [
  `
  CREATE TABLE profiles (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE TABLE machines (
    name TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE INDEX machines_profile ON machines(profile);
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
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    machine TEXT,
    at BIGINT NOT NULL,
    level TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    mac TEXT,
    ip TEXT,
    data TEXT
  );
  CREATE INDEX events_machine ON events(machine, id);
  CREATE INDEX events_at ON events(at);
  -- seq: the order tokens were written in (a token written again is the newest), for current().
  CREATE SEQUENCE tokens_seq AS BIGINT;
  CREATE TABLE tokens (
    token TEXT PRIMARY KEY,
    machine TEXT NOT NULL,
    install_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    seq BIGINT NOT NULL DEFAULT nextval('tokens_seq')
  );
  CREATE INDEX tokens_machine ON tokens(machine, seq);
  CREATE TABLE leases (
    mac TEXT PRIMARY KEY,
    ip TEXT NOT NULL UNIQUE,
    subnet TEXT NOT NULL,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    hostname TEXT,
    client_id TEXT,
    updated_at BIGINT NOT NULL
  );
  CREATE INDEX leases_subnet ON leases(subnet);
  CREATE TABLE heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), at BIGINT NOT NULL);
  CREATE TABLE hardware (
    machine TEXT PRIMARY KEY REFERENCES machines(name) ON DELETE CASCADE,
    body TEXT NOT NULL,
    source TEXT NOT NULL,
    reported_at BIGINT NOT NULL
  );
  CREATE TABLE rules (
    name TEXT PRIMARY KEY,
    priority INTEGER NOT NULL,
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE TABLE discovered (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    body TEXT NOT NULL,
    seen_at BIGINT NOT NULL
  );
  CREATE TABLE discovery_tokens (
    token TEXT PRIMARY KEY,
    mac TEXT NOT NULL UNIQUE,
    ip TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    entry_id TEXT,
    revoked_at BIGINT
  );
  CREATE INDEX discovery_tokens_expires ON discovery_tokens(expires_at);
  CREATE TABLE retired_macs (
    mac TEXT PRIMARY KEY,
    machine TEXT NOT NULL,
    retired_at BIGINT NOT NULL
  );
  CREATE TABLE replacements (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    machine TEXT NOT NULL,
    at BIGINT NOT NULL,
    body TEXT NOT NULL
  );
  CREATE INDEX replacements_machine ON replacements(machine, id);
  `,
  // Instance names: which instance wrote each event (NULL for older events).
  `
  ALTER TABLE events ADD COLUMN instance TEXT;
  `,
  // Values every instance must agree on, such as the converger's SSH key (written once, by the first).
  `
  CREATE TABLE shared_values (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  `,
  // A DHCP burst's leases in one round trip, in order (a later lease may take the address an
  // earlier one released). A lease whose address another MAC holds (model/lease.ts
  // mayTakeAddress) is not written: the holder is returned instead.
  `
  CREATE FUNCTION kickstand_put_leases(batch jsonb) RETURNS SETOF leases LANGUAGE plpgsql AS $$
  DECLARE
    l jsonb;
    holder leases;
  BEGIN
    FOR l IN SELECT value FROM jsonb_array_elements(batch) LOOP
      DELETE FROM leases
        WHERE ip = l->>'ip' AND mac <> l->>'mac'
          AND (state = 'released' OR expires_at <= (l->>'updatedAt')::bigint OR coalesce((l->>'reserved')::boolean, false));
      SELECT * INTO holder FROM leases WHERE ip = l->>'ip' AND mac <> l->>'mac';
      IF FOUND THEN
        RETURN NEXT holder;
        CONTINUE;
      END IF;
      INSERT INTO leases (mac, ip, subnet, state, expires_at, hostname, client_id, updated_at)
        VALUES (l->>'mac', l->>'ip', l->>'subnet', l->>'state', (l->>'expiresAt')::bigint, l->>'hostname', l->>'clientId', (l->>'updatedAt')::bigint)
        ON CONFLICT (mac) DO UPDATE SET ip = excluded.ip, subnet = excluded.subnet, state = excluded.state, expires_at = excluded.expires_at,
          hostname = excluded.hostname, client_id = excluded.client_id, updated_at = excluded.updated_at;
    END LOOP;
  END
  $$;
  `,
];

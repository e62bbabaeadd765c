-- PostgreSQL twin of store/migrations/0001_initial.sql: same tables, columns and meaning.
-- Times are epoch seconds in double precision (SQLite's REAL); ids and counters bigint.

-- Pools as the vendor signed them. Only the newest keeps its raw file (it is
-- re-verified at every start); older rows keep their metadata for the record.
CREATE TABLE pools (
    seq            bigint           PRIMARY KEY,
    iat            bigint           NOT NULL,
    exp            bigint           NOT NULL,
    org_id         text             NOT NULL,
    ack_usage_seq  bigint           NOT NULL,
    imported_at    double precision NOT NULL,
    raw            text             NOT NULL
);

-- Live sessions only: a session row is deleted when it ends; the audit log keeps the history.
CREATE TABLE sessions (
    id            text             PRIMARY KEY,
    license       text             NOT NULL,
    auth_context  text             NOT NULL,
    started_at    double precision NOT NULL,
    expires_at    double precision NOT NULL,
    extends       integer          NOT NULL DEFAULT 0,
    UNIQUE (license, auth_context)
);

-- The audit log, hash-chained: hash = sha256(canonical event + prev_hash) (sealed/chain.py).
-- `data` is the event's JSON as text, byte for byte as written (not jsonb, which reorders).
CREATE TABLE events (
    id            bigint           PRIMARY KEY,
    at            double precision NOT NULL,
    type          text             NOT NULL,
    license       text,
    auth_context  text,
    data          text             NOT NULL,
    prev_hash     text             NOT NULL,
    hash          text             NOT NULL
);
CREATE INDEX events_license ON events (license);

-- Small named values: the trusted-time floor, counters of usage files.
CREATE TABLE meta (
    key    text PRIMARY KEY,
    value  text NOT NULL
);

-- Highest number of simultaneous sessions seen per license (for usage reports).
CREATE TABLE license_stats (
    license        text    PRIMARY KEY,
    peak_sessions  integer NOT NULL
);

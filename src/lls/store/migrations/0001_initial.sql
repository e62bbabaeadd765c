-- Pools as the vendor signed them. Only the newest keeps its raw file (it is
-- re-verified at every start); older rows keep their metadata for the record.
CREATE TABLE pools (
    seq            INTEGER PRIMARY KEY,
    iat            INTEGER NOT NULL,
    exp            INTEGER NOT NULL,
    org_id         TEXT    NOT NULL,
    ack_usage_seq  INTEGER NOT NULL,
    imported_at    REAL    NOT NULL,
    raw            TEXT    NOT NULL
);

-- Live sessions only: a session row is deleted when it ends; the audit log keeps the history.
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    license       TEXT NOT NULL,
    auth_context  TEXT NOT NULL,
    started_at    REAL NOT NULL,
    expires_at    REAL NOT NULL,
    extends       INTEGER NOT NULL DEFAULT 0,
    UNIQUE (license, auth_context)
);

-- The audit log, hash-chained: hash = sha256(canonical event + prev_hash).
CREATE TABLE events (
    id            INTEGER PRIMARY KEY,
    at            REAL NOT NULL,
    type          TEXT NOT NULL,
    license       TEXT,
    auth_context  TEXT,
    data          TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);
CREATE INDEX events_license ON events (license);

-- Small named values: the trusted-time floor, counters of usage files.
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- Highest number of simultaneous sessions seen per license (for usage reports).
CREATE TABLE license_stats (
    license        TEXT PRIMARY KEY,
    peak_sessions  INTEGER NOT NULL
);

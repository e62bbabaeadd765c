-- Floating feature units a live session holds; they go with the session.
CREATE TABLE checkouts (
    session_id  TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    feature     TEXT    NOT NULL,
    quantity    INTEGER NOT NULL,
    PRIMARY KEY (session_id, feature)
);

-- Consumption counters: what was consumed survives restarts and newer pools.
CREATE TABLE consumption (
    license   TEXT    NOT NULL,
    feature   TEXT    NOT NULL,
    consumed  INTEGER NOT NULL,
    PRIMARY KEY (license, feature)
);

-- Per-license facts that outlive sessions: node-locked binding, temporary start, misuse lock.
CREATE TABLE license_flags (
    license             TEXT PRIMARY KEY,
    bound_context       TEXT,
    first_activated_at  REAL,
    locked_at           REAL
);

-- Environments (authContexts) bound to the organisation that first activated on them.
CREATE TABLE environments (
    auth_context  TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL,
    bound_at      REAL NOT NULL
);

-- The misuse job counts recent session starts per license.
CREATE INDEX events_at ON events (at);

-- PostgreSQL twin of store/migrations/0002_features_bindings.sql.

-- Floating feature units a live session holds; they go with the session.
CREATE TABLE checkouts (
    session_id  text    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    feature     text    NOT NULL,
    quantity    integer NOT NULL,
    PRIMARY KEY (session_id, feature)
);

-- Consumption counters: what was consumed survives restarts and newer pools.
CREATE TABLE consumption (
    license   text    NOT NULL,
    feature   text    NOT NULL,
    consumed  integer NOT NULL,
    PRIMARY KEY (license, feature)
);

-- Per-license facts that outlive sessions: node-locked binding, temporary start, misuse lock.
CREATE TABLE license_flags (
    license             text PRIMARY KEY,
    bound_context       text,
    first_activated_at  double precision,
    locked_at           double precision
);

-- Environments (authContexts) bound to the organisation that first activated on them.
CREATE TABLE environments (
    auth_context  text             PRIMARY KEY,
    org_id        text             NOT NULL,
    bound_at      double precision NOT NULL
);

-- The misuse job counts recent session starts per license.
CREATE INDEX events_at ON events (at);

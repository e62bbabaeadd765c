-- PostgreSQL twin of store/migrations/0006_misuse_contexts.sql (added after 0007 had shipped
-- here: migrate.py applies every number a database lacks, not only those above its newest).

-- authContexts seen by validate, per license, with the last time each was seen. Misuse
-- detection counts them together with the contexts that started sessions (events).
-- validate only notes a context in memory; the misuse job writes what was noted, in
-- one transaction per run, and drops rows older than the longest misuse window.
CREATE TABLE misuse_contexts (
    license       text             NOT NULL,
    auth_context  text             NOT NULL,
    seen_at       double precision NOT NULL,
    PRIMARY KEY (license, auth_context)
);
CREATE INDEX misuse_contexts_seen ON misuse_contexts (seen_at);

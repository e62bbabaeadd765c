-- authContexts seen by validate, per license, with the last time each was seen. Misuse
-- detection counts them together with the contexts that started sessions (events).
-- validate only notes a context in memory; the misuse job writes what was noted, in
-- one transaction per run, and drops rows older than the longest misuse window.
CREATE TABLE misuse_contexts (
    license       TEXT NOT NULL,
    auth_context  TEXT NOT NULL,
    seen_at       REAL NOT NULL,
    PRIMARY KEY (license, auth_context)
);
CREATE INDEX misuse_contexts_seen ON misuse_contexts (seen_at);

-- PostgreSQL twin of store/migrations/0008_history.sql.

-- Usage history: per license and per UTC hour, the peak of concurrent sessions, the
-- sessions started, and denials by reason / peak floating units / consumption by feature
-- as JSON text (the same text SQLite keeps). A row holds its bucket's whole value.
CREATE TABLE history_hours (
    license        text    NOT NULL,
    hour           bigint  NOT NULL,   -- start of the hour, unix seconds (UTC)
    peak_sessions  integer NOT NULL DEFAULT 0,
    started        integer NOT NULL DEFAULT 0,
    denials        text    NOT NULL DEFAULT '{}',
    peak_units     text    NOT NULL DEFAULT '{}',
    consumed       text    NOT NULL DEFAULT '{}',
    PRIMARY KEY (license, hour)
);
CREATE INDEX history_hours_hour ON history_hours (hour);

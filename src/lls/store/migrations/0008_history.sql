-- Usage history (lls.domain.history): per license and per UTC hour, the peak of
-- concurrent sessions, sessions started, and three small JSON objects: denials by
-- reason, the peak of floating units in use by feature, consumption used by feature.
-- A row always holds its bucket's whole value (written again, never incremented), so a
-- bucket written twice, or continued after a restart, is never counted twice. Kept
-- history.retention_days (400 by default), apart from the audit events that are pruned
-- once the vendor acknowledged them.
CREATE TABLE history_hours (
    license        TEXT    NOT NULL,
    hour           INTEGER NOT NULL,   -- start of the hour, unix seconds (UTC)
    peak_sessions  INTEGER NOT NULL DEFAULT 0,
    started        INTEGER NOT NULL DEFAULT 0,
    denials        TEXT    NOT NULL DEFAULT '{}',
    peak_units     TEXT    NOT NULL DEFAULT '{}',
    consumed       TEXT    NOT NULL DEFAULT '{}',
    PRIMARY KEY (license, hour)
) WITHOUT ROWID;
-- Pruning by age and "the newest hour" at start read by hour across licenses.
CREATE INDEX history_hours_hour ON history_hours (hour);

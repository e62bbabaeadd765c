-- Usage files written for the vendor: which events each one carried, so that a
-- pool's ackUsageSeq can prune exactly what the vendor has confirmed reading.
CREATE TABLE usage_exports (
    seq            INTEGER PRIMARY KEY,
    last_event_id  INTEGER NOT NULL,
    chain_head     TEXT,
    created_at     REAL NOT NULL
);

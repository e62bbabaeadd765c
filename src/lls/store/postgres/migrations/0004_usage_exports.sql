-- PostgreSQL twin of store/migrations/0004_usage_exports.sql.

-- Usage files written for the vendor: which events each one carried, so that a
-- pool's ackUsageSeq can prune exactly what the vendor has confirmed reading.
CREATE TABLE usage_exports (
    seq            bigint           PRIMARY KEY,
    last_event_id  bigint           NOT NULL,
    chain_head     text,
    created_at     double precision NOT NULL
);

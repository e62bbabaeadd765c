-- Twin of store/postgres/migrations/0010_ha_binding.sql. On SQLite the data directory is
-- bound to its machine (instance.json) and nothing writes this table; it exists so that
-- both backends keep the same schema version.
CREATE TABLE instance_binding (
    singleton          INTEGER PRIMARY KEY DEFAULT 1 CHECK (singleton = 1),
    instance_id        TEXT NOT NULL,
    database_identity  TEXT NOT NULL,
    bound_at           REAL NOT NULL
);

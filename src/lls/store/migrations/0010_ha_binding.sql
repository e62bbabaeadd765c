-- Twin of store/postgres/migrations/0010_ha_binding.sql. On SQLite the data directory is
-- bound to its machine (instance.json) and nothing writes these tables; they exist so
-- both backends keep one schema version.
CREATE TABLE ha_instance (
    singleton           INTEGER PRIMARY KEY DEFAULT 1 CHECK (singleton = 1),
    instance_id         TEXT NOT NULL,
    database_identity   TEXT NOT NULL,
    bound_at            REAL NOT NULL,
    instance_key        TEXT,
    vendor_keys         TEXT,
    admin_token_sha256  TEXT
);
CREATE TABLE ha_nodes (
    fingerprint  TEXT PRIMARY KEY,
    hostname     TEXT NOT NULL,
    machine      TEXT NOT NULL,
    joined_at    REAL NOT NULL
);

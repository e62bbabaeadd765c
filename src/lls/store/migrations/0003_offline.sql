-- Offline activations: seats held by devices that cannot reach the server.
CREATE TABLE offline_activations (
    id                TEXT PRIMARY KEY,
    license           TEXT NOT NULL,
    auth_context      TEXT NOT NULL,
    device_kid        TEXT NOT NULL,
    device_keys       TEXT NOT NULL,
    nonce             TEXT NOT NULL,
    activated_at      REAL NOT NULL,
    lease_expires_at  REAL NOT NULL,
    deactivated_at    REAL
);
CREATE INDEX offline_license ON offline_activations (license);

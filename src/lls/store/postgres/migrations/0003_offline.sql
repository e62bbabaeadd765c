-- PostgreSQL twin of store/migrations/0003_offline.sql.

-- Offline activations: seats held by devices that cannot reach the server.
-- device_keys is the device's JWKS as JSON text, as the SQLite store keeps it.
CREATE TABLE offline_activations (
    id                text             PRIMARY KEY,
    license           text             NOT NULL,
    auth_context      text             NOT NULL,
    device_kid        text             NOT NULL,
    device_keys       text             NOT NULL,
    nonce             text             NOT NULL,
    activated_at      double precision NOT NULL,
    lease_expires_at  double precision NOT NULL,
    deactivated_at    double precision
);
CREATE INDEX offline_license ON offline_activations (license);

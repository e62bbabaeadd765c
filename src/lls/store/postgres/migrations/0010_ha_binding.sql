-- High availability (issue 15b): the instance in its database, the nodes that serve it.
--
-- ha_instance: which instance this database belongs to and where it was created. A
-- database copied into another database or cluster (pg_dump/restore, CREATE DATABASE …
-- TEMPLATE) has another identity (the cluster's system_identifier and the database's
-- oid), so LLS refuses to serve from it until `lls registration --rebind`. `lls init
-- --store` also keeps the instance's keys here, so `lls node join` can give them to a
-- new node: whoever can read this table holds the instance (docs/ha.md).
CREATE TABLE ha_instance (
    singleton           boolean          PRIMARY KEY DEFAULT true CHECK (singleton),
    instance_id         text             NOT NULL,
    database_identity   text             NOT NULL,  -- 'system_identifier/database oid'
    bound_at            double precision NOT NULL,
    instance_key        text,            -- the instance's private JWKS (instance.key)
    vendor_keys         text,            -- the pinned vendor key file (vendor.jwks)
    admin_token_sha256  text             -- `lls node join` proves it holds the admin token
);

-- The machines joined to the instance (`lls init --store`, `lls node join`): each node
-- checks at start that its machine is one of them; the registration file lists them.
CREATE TABLE ha_nodes (
    fingerprint  text             PRIMARY KEY,
    hostname     text             NOT NULL,
    machine      text             NOT NULL,  -- the hashed machine record (lls.machine), JSON
    joined_at    double precision NOT NULL
);

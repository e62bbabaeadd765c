-- High availability (issue 15b): which instance a database belongs to, and where it was
-- bound. A database copied into another database or cluster (pg_dump/restore, CREATE
-- DATABASE … TEMPLATE) has another identity (the cluster's system_identifier and the
-- database's oid), so LLS refuses to serve from it until `lls registration --rebind`.
CREATE TABLE instance_binding (
    singleton          boolean          PRIMARY KEY DEFAULT true CHECK (singleton),
    instance_id        text             NOT NULL,
    database_identity  text             NOT NULL,  -- 'system_identifier/database oid'
    bound_at           double precision NOT NULL
);

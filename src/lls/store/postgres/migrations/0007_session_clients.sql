-- PostgreSQL twin of store/migrations/0007_session_clients.sql.

-- Who holds a session, for the admin: the address the client called from and the
-- clientInfo it sent (LLS extension); NULL when it sent nothing.
ALTER TABLE sessions
    ADD COLUMN client_address      text,
    ADD COLUMN client_hostname     text,
    ADD COLUMN client_user         text,
    ADD COLUMN client_application  text,
    ADD COLUMN client_version      text;

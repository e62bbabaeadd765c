-- Who holds a session, for the admin (`lls sessions`, GET /admin/v1/sessions): the
-- address the client called from and the clientInfo it sent (LLS extension). NULL
-- for sessions of clients that sent nothing, and for sessions started before this.
ALTER TABLE sessions ADD COLUMN client_address TEXT;
ALTER TABLE sessions ADD COLUMN client_hostname TEXT;
ALTER TABLE sessions ADD COLUMN client_user TEXT;
ALTER TABLE sessions ADD COLUMN client_application TEXT;
ALTER TABLE sessions ADD COLUMN client_version TEXT;

-- PostgreSQL twin of store/migrations/0011_borrow.sql.

-- Borrowed seats (issue 16, part 3): an offline activation is either carried by the admin
-- ('offline') or taken along by a live session for the road ('borrow', POST /licensing/borrow).
-- Both hold a seat until their lease ends; rows written before this are 'offline'.
ALTER TABLE offline_activations ADD COLUMN kind text NOT NULL DEFAULT 'offline';

-- The table /api/database reads, with two rows to show. Plain SQL that
-- SQLite and PostgreSQL both run.
CREATE TABLE IF NOT EXISTS users (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL
);

INSERT INTO users (id, name) VALUES (1, 'Alice'), (2, 'Bob')
ON CONFLICT (id) DO NOTHING;

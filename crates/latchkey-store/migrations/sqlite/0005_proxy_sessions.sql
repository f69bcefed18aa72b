-- The auth proxy's sessions, kept server-side: the browser's cookie carries only a sealed
-- reference, whose SHA-256 digest is the key here. `proxy` is the proxy's id from
-- configuration. Tokens are sealed by the proxy before they reach this table.
-- `generation` grows with every refresh; the refresh lease (`lease_holder` until
-- `lease_until`) lets one request among many, on any replica, refresh a session.
CREATE TABLE proxy_sessions (
    id_hash TEXT PRIMARY KEY,
    proxy TEXT NOT NULL,
    subject TEXT NOT NULL,
    sid TEXT,
    user_name TEXT NOT NULL,
    email TEXT,
    email_verified BOOLEAN NOT NULL,
    preferred_username TEXT,
    groups TEXT NOT NULL,
    access_token BLOB NOT NULL,
    id_token BLOB,
    refresh_token BLOB,
    tokens_expire_at BIGINT,
    created_at BIGINT NOT NULL,
    refreshed_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    generation BIGINT NOT NULL,
    lease_holder TEXT,
    lease_until BIGINT
);
CREATE INDEX proxy_sessions_expiry ON proxy_sessions (expires_at);
CREATE INDEX proxy_sessions_subject ON proxy_sessions (proxy, subject);
CREATE INDEX proxy_sessions_sid ON proxy_sessions (proxy, sid) WHERE sid IS NOT NULL;

-- People sign in to the idp role: their passkeys, one-time links (the first admin's setup
-- link, sign-in links an administrator makes), the ceremonies already finished (single use
-- across replicas without a row per started ceremony), and what a session list shows.

-- A passkey. `public_key` is the credential's COSE key; `sign_count` 0 means the
-- authenticator keeps no counter.
CREATE TABLE passkeys (
    credential_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    public_key BLOB NOT NULL,
    sign_count BIGINT NOT NULL,
    backup_eligible INTEGER NOT NULL,
    backup_state INTEGER NOT NULL,
    transports TEXT NOT NULL,
    aaguid TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- `user_id` is empty for the setup link, which makes the first administrator.
CREATE TABLE one_time_links (
    token_hash TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    purpose TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX one_time_links_expiry ON one_time_links (expires_at);

CREATE TABLE used_ceremonies (
    id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_ceremonies_expiry ON used_ceremonies (expires_at);

ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN last_used_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX sessions_subject ON sessions (issuer, subject);

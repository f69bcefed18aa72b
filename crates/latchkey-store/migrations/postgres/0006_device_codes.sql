-- RFC 8628 device authorization requests. The device code is kept as its SHA-256 digest;
-- the user code (normalised: upper case, no dash) is what a person types at /device.
-- `status` goes pending -> approved | denied, once; an approved or denied row is deleted by
-- the poll that answers it, so a device code is redeemed at most once. `poll_interval`
-- grows when a device polls too fast (RFC 8628 §3.5). What the person's sign-in vouched
-- for (`subject`, `auth_time`, `amr`, `snapshot`) is set on approval.
CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    user_code TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    poll_interval BIGINT NOT NULL,
    last_polled_at BIGINT,
    status TEXT NOT NULL,
    subject TEXT,
    auth_time BIGINT,
    amr TEXT NOT NULL,
    snapshot TEXT,
    UNIQUE (issuer, user_code)
);
CREATE INDEX device_codes_expiry ON device_codes (expires_at);

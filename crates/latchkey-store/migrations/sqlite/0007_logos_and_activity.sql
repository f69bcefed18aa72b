-- A client's logo, uploaded in the admin pages and served by the idp itself (pages make no
-- third-party requests): a small PNG, JPEG, WebP or SVG image, checked before it is stored.
CREATE TABLE client_logos (
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data BLOB NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, client_id)
);

-- A person's own recent activity (the account page), newest first.
CREATE INDEX audit_events_subject ON audit_events (issuer, subject, id);

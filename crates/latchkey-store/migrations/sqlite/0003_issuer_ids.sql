-- Records are keyed by a stable issuer id from configuration instead of a closed list of
-- roles. The ids of the two existing issuers are the old role names, so no value changes.
ALTER TABLE clients RENAME COLUMN role TO issuer;
ALTER TABLE grants RENAME COLUMN role TO issuer;
ALTER TABLE refresh_tokens RENAME COLUMN role TO issuer;
ALTER TABLE revoked_access_tokens RENAME COLUMN role TO issuer;
ALTER TABLE signing_keys RENAME COLUMN role TO issuer;
ALTER TABLE consents RENAME COLUMN role TO issuer;
ALTER TABLE sessions RENAME COLUMN role TO issuer;
ALTER TABLE audit_events RENAME COLUMN role TO issuer;

-- The sign-in snapshot becomes a typed document: standard claims, and a role-owned,
-- versioned extension. tsidp's flat keys move into its extension (kind "tsidp", v 1);
-- anything else was standard claims.
ALTER TABLE grants RENAME COLUMN claims TO snapshot;
UPDATE grants SET snapshot = json_object(
    'standard', json_object(
        'email', json_extract(snapshot, '$.tsidp_id_token.email'),
        'name', json_extract(snapshot, '$.tsidp_id_token.name'),
        'preferred_username', json_extract(snapshot, '$.tsidp_id_token.preferred_username'),
        'picture', json_extract(snapshot, '$.tsidp_id_token.picture'),
        'groups', json_extract(snapshot, '$.tsidp_id_token.groups')
    ),
    'ext', json_object(
        'kind', 'tsidp',
        'v', 1,
        'data', json_object(
            'id_token', json_extract(snapshot, '$.tsidp_id_token'),
            'userinfo', json_extract(snapshot, '$.tsidp_userinfo'),
            'login', json_extract(snapshot, '$.tsidp_login'),
            'resource_rules', json_extract(snapshot, '$.tsidp_resource_rules')
        )
    )
) WHERE json_type(snapshot, '$.tsidp_login') IS NOT NULL;
UPDATE grants SET snapshot = json_object('standard', json(snapshot))
WHERE json_type(snapshot, '$.ext') IS NULL;

-- A grant and its first refresh token in one statement, so they are stored together or not
-- at all (a statement is atomic in SQLite, its trigger included) in one round trip to the
-- database thread. Only inserted into; reading it returns nothing useful.
CREATE VIEW grant_with_refresh AS
SELECT g.id, g.issuer, g.client_id, g.subject, g.scope, g.auth_time, g.snapshot,
       g.created_at, g.expires_at,
       r.token_hash, r.issuer AS r_issuer, r.grant_id AS r_grant_id, r.client_id AS r_client_id,
       r.subject AS r_subject, r.scope AS r_scope, r.auth_time AS r_auth_time, r.extra AS r_extra,
       r.created_at AS r_created_at, r.expires_at AS r_expires_at
FROM grants g JOIN refresh_tokens r ON r.grant_id = g.id;

CREATE TRIGGER grant_with_refresh_insert INSTEAD OF INSERT ON grant_with_refresh
BEGIN
    INSERT INTO grants (id, issuer, client_id, subject, scope, auth_time, snapshot, created_at, expires_at, revoked_at)
    VALUES (NEW.id, NEW.issuer, NEW.client_id, NEW.subject, NEW.scope, NEW.auth_time, NEW.snapshot, NEW.created_at, NEW.expires_at, NULL);
    INSERT INTO refresh_tokens (token_hash, issuer, grant_id, client_id, subject, scope, auth_time, extra, created_at, expires_at, used_at)
    VALUES (NEW.token_hash, NEW.r_issuer, NEW.r_grant_id, NEW.r_client_id, NEW.r_subject, NEW.r_scope, NEW.r_auth_time, NEW.r_extra, NEW.r_created_at, NEW.r_expires_at, NULL);
END;

-- Nothing looks refresh tokens up by grant (revocation marks the grant; rotation joins on the
-- grant's primary key): the index only cost a page write per code redemption.
DROP INDEX refresh_tokens_grant;

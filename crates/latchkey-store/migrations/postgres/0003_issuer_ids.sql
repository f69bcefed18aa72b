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
ALTER INDEX signing_keys_role RENAME TO signing_keys_issuer;

-- The sign-in snapshot becomes a typed document: standard claims, and a role-owned,
-- versioned extension. tsidp's flat keys move into its extension (kind "tsidp", v 1);
-- anything else was standard claims.
ALTER TABLE grants RENAME COLUMN claims TO snapshot;
UPDATE grants SET snapshot = jsonb_build_object(
    'standard', jsonb_strip_nulls(jsonb_build_object(
        'email', snapshot::jsonb -> 'tsidp_id_token' -> 'email',
        'name', snapshot::jsonb -> 'tsidp_id_token' -> 'name',
        'preferred_username', snapshot::jsonb -> 'tsidp_id_token' -> 'preferred_username',
        'picture', snapshot::jsonb -> 'tsidp_id_token' -> 'picture',
        'groups', snapshot::jsonb -> 'tsidp_id_token' -> 'groups'
    )),
    'ext', jsonb_build_object(
        'kind', 'tsidp',
        'v', 1,
        'data', jsonb_build_object(
            'id_token', snapshot::jsonb -> 'tsidp_id_token',
            'userinfo', snapshot::jsonb -> 'tsidp_userinfo',
            'login', snapshot::jsonb -> 'tsidp_login',
            'resource_rules', snapshot::jsonb -> 'tsidp_resource_rules'
        )
    )
)::text WHERE snapshot::jsonb ? 'tsidp_login';
UPDATE grants SET snapshot = jsonb_build_object('standard', snapshot::jsonb)::text
WHERE NOT (snapshot::jsonb ? 'ext');

-- Nothing looks refresh tokens up by grant (revocation marks the grant; rotation joins on the
-- grant's primary key): the index only cost a page write per code redemption.
DROP INDEX refresh_tokens_grant;

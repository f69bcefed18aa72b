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

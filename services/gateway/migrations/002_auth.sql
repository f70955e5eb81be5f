-- Gateway authentication: users with roles, account grants, refresh tokens and cookie sessions,
-- API keys, the token-signing secret and the audit log. Written only by the gateway's auth
-- code (services/gateway/auth). Tokens and keys are stored as SHA-256 of the random value,
-- passwords as argon2id hashes; nothing here is ever returned raw.

CREATE TABLE users (
    username      text        PRIMARY KEY,
    password_hash text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('admin', 'trader', 'viewer')),
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Which broker accounts (execution's account_id) a user may read and, as a trader, trade.
-- Admins hold every account without rows here.
CREATE TABLE account_grants (
    account_id text        NOT NULL,
    username   text        NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    granted_by text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, username)
);
CREATE INDEX account_grants_user ON account_grants (username);

-- Refresh tokens ('refresh') and web-UI cookie sessions ('session'). A login starts a family;
-- each refresh revokes the presented token and adds the next one to the family, and presenting
-- a revoked token again revokes the whole family (a stolen token is then useless to both).
-- Access JWTs carry the family id, so revoking it (logout) ends them too.
CREATE TABLE auth_tokens (
    token_hash  text        PRIMARY KEY,
    kind        text        NOT NULL CHECK (kind IN ('refresh', 'session')),
    family      text        NOT NULL,
    username    text        NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_tokens_family ON auth_tokens (family);
CREATE INDEX auth_tokens_user ON auth_tokens (username);

CREATE TABLE api_keys (
    id           bigserial   PRIMARY KEY,
    username     text        NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    name         text        NOT NULL,
    prefix       text        NOT NULL,           -- shown in listings to tell keys apart
    key_hash     text        NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_user ON api_keys (username);

-- The HS256 signing secret for access JWTs when MANDI_JWT_SECRET is not set: generated once,
-- shared by every gateway replica through the database.
CREATE TABLE auth_secrets (
    name       text        PRIMARY KEY,
    value      text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Who did what: logins, failed logins, key creation and revocation, user and grant changes.
-- `actor` is the authenticated user (or the username tried, for a failed login).
CREATE TABLE audit_log (
    id     bigserial   PRIMARY KEY,
    ts     timestamptz NOT NULL DEFAULT now(),
    actor  text        NOT NULL,
    action text        NOT NULL,
    target text        NOT NULL DEFAULT '',
    ip     text        NOT NULL DEFAULT '',
    detail jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_ts ON audit_log (ts DESC);

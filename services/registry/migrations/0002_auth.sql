-- Access control: principals (users and service accounts), their grants, and
-- their API tokens. A token is stored as its id and a salted scrypt hash of the
-- whole token, never as itself. A grant's domain '' means the whole project.

CREATE TABLE principals (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL UNIQUE,
    kind       text        NOT NULL CHECK (kind IN ('user', 'service')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE grants (
    principal_id bigint      NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    project      text        NOT NULL,
    domain       text        NOT NULL DEFAULT '',
    role         text        NOT NULL CHECK (role IN ('viewer', 'launcher', 'editor', 'admin')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal_id, project, domain, role)
);

CREATE INDEX grants_by_project ON grants (project);

CREATE TABLE tokens (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_id     text        NOT NULL UNIQUE,
    principal_id bigint      NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    hash         text        NOT NULL,
    salt         bytea       NOT NULL,
    name         text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

CREATE INDEX tokens_by_principal ON tokens (principal_id, id DESC);

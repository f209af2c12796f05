-- The registry: projects and the immutable tasks, workflows and launch plans
-- registered in them. Each entity keeps its spec twice: as jsonb (for ad hoc
-- queries) and as its canonical JSON bytes, whose sha256 is `digest` and which
-- reads return as they are. Lists are newest first by `id` (keyset pagination).

CREATE TABLE projects (
    id          bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    name        text        PRIMARY KEY,
    description text        NOT NULL DEFAULT '',
    domains     text[]      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tasks (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project     text        NOT NULL REFERENCES projects (name),
    domain      text        NOT NULL,
    name        text        NOT NULL,
    version     text        NOT NULL,
    digest      text        NOT NULL,
    spec        jsonb       NOT NULL,
    spec_bytes  bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tasks_identifier UNIQUE (project, domain, name, version)
);

CREATE INDEX tasks_by_name ON tasks (project, domain, name, id DESC);
CREATE INDEX tasks_by_version ON tasks (project, domain, version, id DESC);
CREATE INDEX tasks_by_domain ON tasks (project, domain, id DESC);

CREATE TABLE workflows (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project       text        NOT NULL REFERENCES projects (name),
    domain        text        NOT NULL,
    name          text        NOT NULL,
    version       text        NOT NULL,
    digest        text        NOT NULL,
    spec          jsonb       NOT NULL,
    spec_bytes    bytea       NOT NULL,
    closure       jsonb       NOT NULL,
    closure_bytes bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflows_identifier UNIQUE (project, domain, name, version)
);

CREATE INDEX workflows_by_name ON workflows (project, domain, name, id DESC);
CREATE INDEX workflows_by_version ON workflows (project, domain, version, id DESC);
CREATE INDEX workflows_by_domain ON workflows (project, domain, id DESC);

CREATE TABLE launch_plans (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project          text        NOT NULL REFERENCES projects (name),
    domain           text        NOT NULL,
    name             text        NOT NULL,
    version          text        NOT NULL,
    digest           text        NOT NULL,
    spec             jsonb       NOT NULL,
    spec_bytes       bytea       NOT NULL,
    workflow_id      bigint      NOT NULL REFERENCES workflows (id),
    state            text        NOT NULL DEFAULT 'INACTIVE'
                                 CHECK (state IN ('ACTIVE', 'INACTIVE')),
    state_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT launch_plans_identifier UNIQUE (project, domain, name, version)
);

CREATE INDEX launch_plans_by_name ON launch_plans (project, domain, name, id DESC);
CREATE INDEX launch_plans_by_version ON launch_plans (project, domain, version, id DESC);
CREATE INDEX launch_plans_by_domain ON launch_plans (project, domain, id DESC);
CREATE INDEX launch_plans_by_workflow ON launch_plans (workflow_id);
-- At most one active version per launch plan name; the scheduler lists these.
CREATE UNIQUE INDEX launch_plans_one_active
    ON launch_plans (project, domain, name) WHERE state = 'ACTIVE';

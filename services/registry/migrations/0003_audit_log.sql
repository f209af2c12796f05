-- The audit log: who did what, to which resource, when. Every service writes
-- entries to contrail.audit in the transaction of the change; the registry
-- keeps them here, once each (event_id), and lists them newest first by `id`.

CREATE TABLE audit_log (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    text        NOT NULL UNIQUE,
    at          timestamptz NOT NULL,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    project     text,
    domain      text,
    resource    text        NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}',
    source      text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX audit_log_by_project ON audit_log (project, id DESC);
CREATE INDEX audit_log_by_actor ON audit_log (actor, id DESC);
CREATE INDEX audit_log_by_action ON audit_log (action, id DESC);

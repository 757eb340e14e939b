-- The team database's schema before `scp-volume-mcp db migrate` (version 1), as replicas made it
-- at start up to commit a3aa4a7: kept to test the upgrade.
CREATE TABLE IF NOT EXISTS scp_volume_audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time timestamptz NOT NULL,
    phase text NOT NULL CHECK (phase IN ('intent', 'outcome')),
    attempt_id text,
    tool text NOT NULL,
    volume_id text NOT NULL,
    previous_size_gb integer,
    requested_size_gb integer NOT NULL,
    outcome text,
    api_version text,
    http_status integer,
    request_id text,
    client_claimed text,
    caller text,
    detail text,
    snapshot_id text,
    replica text NOT NULL
);
CREATE INDEX IF NOT EXISTS scp_volume_audit_volume_time ON scp_volume_audit (volume_id, time);
CREATE INDEX IF NOT EXISTS scp_volume_audit_time ON scp_volume_audit (time);
CREATE INDEX IF NOT EXISTS scp_volume_audit_attempt ON scp_volume_audit (attempt_id);
CREATE OR REPLACE FUNCTION scp_volume_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'scp_volume_audit is append-only: % refused', TG_OP;
END
$$;
DROP TRIGGER IF EXISTS scp_volume_audit_no_change ON scp_volume_audit;
CREATE TRIGGER scp_volume_audit_no_change BEFORE UPDATE OR DELETE ON scp_volume_audit
    FOR EACH ROW EXECUTE FUNCTION scp_volume_audit_append_only();
CREATE TABLE IF NOT EXISTS scp_volume_pending (
    volume_id text PRIMARY KEY,
    target_gb integer NOT NULL,
    since timestamptz NOT NULL DEFAULT now()
);
DROP TRIGGER IF EXISTS scp_volume_audit_no_truncate ON scp_volume_audit;
CREATE TRIGGER scp_volume_audit_no_truncate BEFORE TRUNCATE ON scp_volume_audit
    FOR EACH STATEMENT EXECUTE FUNCTION scp_volume_audit_append_only();

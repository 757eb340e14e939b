-- The team database's schema at version 3 (before the trigger functions pinned their search_path and the
-- audit table had an endpoint column), as `scp-volume-mcp db migrate` made it up to commit 5e780c1: kept to
-- test the upgrade.
CREATE TABLE IF NOT EXISTS scp_volume_audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time timestamptz NOT NULL,
    phase text NOT NULL,
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
ALTER TABLE scp_volume_audit ADD COLUMN IF NOT EXISTS resize_pending boolean;
ALTER TABLE scp_volume_audit DROP CONSTRAINT IF EXISTS scp_volume_audit_phase_check;
ALTER TABLE scp_volume_audit ADD CONSTRAINT scp_volume_audit_phase_check CHECK (phase IN ('intent', 'outcome', 'close'));
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
CREATE OR REPLACE FUNCTION scp_volume_audit_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.time := clock_timestamp();
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS scp_volume_audit_time ON scp_volume_audit;
CREATE TRIGGER scp_volume_audit_time BEFORE INSERT ON scp_volume_audit FOR EACH ROW EXECUTE FUNCTION scp_volume_audit_stamp();
DROP TRIGGER IF EXISTS scp_volume_audit_no_truncate ON scp_volume_audit;
CREATE TRIGGER scp_volume_audit_no_truncate BEFORE TRUNCATE ON scp_volume_audit
    FOR EACH STATEMENT EXECUTE FUNCTION scp_volume_audit_append_only();
DROP TABLE IF EXISTS scp_volume_pending;
CREATE TABLE IF NOT EXISTS scp_volume_approval_request (
    request_id text PRIMARY KEY,
    time timestamptz NOT NULL,
    ttl_s double precision NOT NULL CHECK (ttl_s > 0),
    volume_id text NOT NULL,
    volume_name text,
    previous_size_gb integer NOT NULL,
    requested_size_gb integer NOT NULL,
    snapshot_first boolean NOT NULL,
    rule text NOT NULL,
    requester text NOT NULL,
    replica text NOT NULL
);
CREATE TABLE IF NOT EXISTS scp_volume_approval_decision (
    request_id text PRIMARY KEY REFERENCES scp_volume_approval_request (request_id),
    time timestamptz NOT NULL,
    decision text NOT NULL CHECK (decision IN ('approved', 'declined')),
    approver text NOT NULL,
    reason text,
    replica text NOT NULL,
    nonce text NOT NULL
);
CREATE INDEX IF NOT EXISTS scp_volume_approval_request_time ON scp_volume_approval_request (time);
CREATE OR REPLACE FUNCTION scp_volume_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END
$$;
DROP TRIGGER IF EXISTS scp_volume_approval_request_no_change ON scp_volume_approval_request;
CREATE TRIGGER scp_volume_approval_request_no_change BEFORE UPDATE OR DELETE ON scp_volume_approval_request
    FOR EACH ROW EXECUTE FUNCTION scp_volume_append_only();
DROP TRIGGER IF EXISTS scp_volume_approval_request_time ON scp_volume_approval_request;
CREATE TRIGGER scp_volume_approval_request_time BEFORE INSERT ON scp_volume_approval_request FOR EACH ROW EXECUTE FUNCTION scp_volume_audit_stamp();
DROP TRIGGER IF EXISTS scp_volume_approval_decision_no_change ON scp_volume_approval_decision;
CREATE TRIGGER scp_volume_approval_decision_no_change BEFORE UPDATE OR DELETE ON scp_volume_approval_decision
    FOR EACH ROW EXECUTE FUNCTION scp_volume_append_only();
DROP TRIGGER IF EXISTS scp_volume_approval_request_no_truncate ON scp_volume_approval_request;
CREATE TRIGGER scp_volume_approval_request_no_truncate BEFORE TRUNCATE ON scp_volume_approval_request
    FOR EACH STATEMENT EXECUTE FUNCTION scp_volume_append_only();
DROP TRIGGER IF EXISTS scp_volume_approval_decision_no_truncate ON scp_volume_approval_decision;
CREATE TRIGGER scp_volume_approval_decision_no_truncate BEFORE TRUNCATE ON scp_volume_approval_decision
    FOR EACH STATEMENT EXECUTE FUNCTION scp_volume_append_only();
DROP TRIGGER IF EXISTS scp_volume_approval_decision_time ON scp_volume_approval_decision;
CREATE TRIGGER scp_volume_approval_decision_time BEFORE INSERT ON scp_volume_approval_decision FOR EACH ROW EXECUTE FUNCTION scp_volume_audit_stamp();
CREATE TABLE IF NOT EXISTS scp_volume_schema (
    single boolean PRIMARY KEY DEFAULT true CHECK (single),
    version integer NOT NULL,
    migrated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO scp_volume_schema (single, version) VALUES (true, 3);

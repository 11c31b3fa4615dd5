-- The PHI file tracking trail is append-only: no UPDATE, DELETE or TRUNCATE, whoever asks.
CREATE OR REPLACE FUNCTION phi_file_tracking_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'phi_file_tracking is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER phi_file_tracking_no_update BEFORE UPDATE ON phi_file_tracking
  FOR EACH ROW EXECUTE FUNCTION phi_file_tracking_refuse_change();
--> statement-breakpoint
CREATE TRIGGER phi_file_tracking_no_delete BEFORE DELETE ON phi_file_tracking
  FOR EACH ROW EXECUTE FUNCTION phi_file_tracking_refuse_change();
--> statement-breakpoint
CREATE TRIGGER phi_file_tracking_no_truncate BEFORE TRUNCATE ON phi_file_tracking
  FOR EACH STATEMENT EXECUTE FUNCTION phi_file_tracking_refuse_change();

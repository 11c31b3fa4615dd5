CREATE TABLE "audit_checkpoints" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"verified_at" timestamp (3) with time zone NOT NULL,
	"started_after_id" bigint NOT NULL,
	"last_id" bigint NOT NULL,
	"last_hash" text NOT NULL,
	"rows" bigint NOT NULL,
	"ok" boolean NOT NULL,
	"problem" text,
	"first_bad_id" bigint,
	"message" text,
	"duration_ms" integer NOT NULL,
	"mac" text NOT NULL
);
--> statement-breakpoint
DROP INDEX "phi_tracking_file_idx";--> statement-breakpoint
DROP INDEX "phi_tracking_cohort_idx";--> statement-breakpoint
DROP INDEX "phi_tracking_request_idx";--> statement-breakpoint
DROP INDEX "phi_tracking_actor_idx";--> statement-breakpoint
DROP INDEX "files_cohort_idx";--> statement-breakpoint
DROP INDEX "files_uploader_idx";--> statement-breakpoint
CREATE INDEX "phi_tracking_action_idx" ON "phi_file_tracking" USING btree ("action","id");--> statement-breakpoint
CREATE INDEX "files_created_idx" ON "files" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "phi_tracking_file_idx" ON "phi_file_tracking" USING btree ("file_id","id");--> statement-breakpoint
CREATE INDEX "phi_tracking_cohort_idx" ON "phi_file_tracking" USING btree ("cohort_id","id");--> statement-breakpoint
CREATE INDEX "phi_tracking_request_idx" ON "phi_file_tracking" USING btree ("request_id","id");--> statement-breakpoint
CREATE INDEX "phi_tracking_actor_idx" ON "phi_file_tracking" USING btree ("actor_user_id","id");--> statement-breakpoint
CREATE INDEX "files_cohort_idx" ON "files" USING btree ("cohort_id","created_at","id");--> statement-breakpoint
CREATE INDEX "files_uploader_idx" ON "files" USING btree ("uploader_id","created_at","id");
--> statement-breakpoint
-- Hand-written from here on: the checkpoints are append-only like the trail they vouch for.
CREATE OR REPLACE FUNCTION audit_checkpoints_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_checkpoints is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_refuse_change();
--> statement-breakpoint
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_refuse_change();
--> statement-breakpoint
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_refuse_change();

CREATE TYPE "public"."audit_outcome" AS ENUM('success', 'failure', 'denied');--> statement-breakpoint
CREATE TYPE "public"."server_role" AS ENUM('web', 'services', 'cli');--> statement-breakpoint
CREATE TYPE "public"."membership_role" AS ENUM('manager', 'viewer');--> statement-breakpoint
CREATE TYPE "public"."file_kind" AS ENUM('precheck', 'submission');--> statement-breakpoint
CREATE TYPE "public"."file_status" AS ENUM('uploading', 'stored', 'failed', 'deleted');--> statement-breakpoint
CREATE TYPE "public"."user_role" AS ENUM('administrator', 'member');--> statement-breakpoint
CREATE TABLE "phi_file_tracking" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"occurred_at" timestamp (3) with time zone NOT NULL,
	"action" text NOT NULL,
	"outcome" "audit_outcome" NOT NULL,
	"server_role" "server_role" NOT NULL,
	"hostname" text NOT NULL,
	"request_id" text,
	"actor_user_id" uuid,
	"actor_ip" text,
	"actor_user_agent" text,
	"cohort_id" uuid,
	"file_id" uuid,
	"disk" text,
	"storage_key" text,
	"bytes" bigint,
	"sha256" text,
	"error" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"prev_hash" text NOT NULL,
	"row_hash" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "cohort_memberships" (
	"user_id" uuid NOT NULL,
	"cohort_id" uuid NOT NULL,
	"role" "membership_role" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "cohort_memberships_user_id_cohort_id_pk" PRIMARY KEY("user_id","cohort_id")
);
--> statement-breakpoint
CREATE TABLE "cohorts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "cohorts_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "files" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"cohort_id" uuid NOT NULL,
	"uploader_id" uuid,
	"original_name" text NOT NULL,
	"content_type" text DEFAULT 'application/octet-stream' NOT NULL,
	"size" bigint,
	"sha256" text,
	"storage_disk" text NOT NULL,
	"storage_key" text NOT NULL,
	"kind" "file_kind" NOT NULL,
	"status" "file_status" DEFAULT 'uploading' NOT NULL,
	"upload_id" text,
	"expires_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone,
	"deleted_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "login_attempts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"email" text NOT NULL,
	"ip" text NOT NULL,
	"succeeded" boolean NOT NULL,
	"attempted_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"email" text NOT NULL,
	"name" text NOT NULL,
	"password_hash" text NOT NULL,
	"is_superuser" boolean DEFAULT false NOT NULL,
	"role" "user_role" DEFAULT 'member' NOT NULL,
	"is_active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_login_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "cohort_memberships" ADD CONSTRAINT "cohort_memberships_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cohort_memberships" ADD CONSTRAINT "cohort_memberships_cohort_id_cohorts_id_fk" FOREIGN KEY ("cohort_id") REFERENCES "public"."cohorts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "files" ADD CONSTRAINT "files_cohort_id_cohorts_id_fk" FOREIGN KEY ("cohort_id") REFERENCES "public"."cohorts"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "files" ADD CONSTRAINT "files_uploader_id_users_id_fk" FOREIGN KEY ("uploader_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "phi_tracking_occurred_idx" ON "phi_file_tracking" USING btree ("occurred_at");--> statement-breakpoint
CREATE INDEX "phi_tracking_file_idx" ON "phi_file_tracking" USING btree ("file_id");--> statement-breakpoint
CREATE INDEX "phi_tracking_cohort_idx" ON "phi_file_tracking" USING btree ("cohort_id");--> statement-breakpoint
CREATE INDEX "phi_tracking_request_idx" ON "phi_file_tracking" USING btree ("request_id");--> statement-breakpoint
CREATE INDEX "phi_tracking_actor_idx" ON "phi_file_tracking" USING btree ("actor_user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "files_disk_key_key" ON "files" USING btree ("storage_disk","storage_key");--> statement-breakpoint
CREATE UNIQUE INDEX "files_upload_id_key" ON "files" USING btree ("upload_id");--> statement-breakpoint
CREATE INDEX "files_cohort_idx" ON "files" USING btree ("cohort_id","created_at");--> statement-breakpoint
CREATE INDEX "files_uploader_idx" ON "files" USING btree ("uploader_id","created_at");--> statement-breakpoint
CREATE INDEX "files_status_idx" ON "files" USING btree ("status","kind");--> statement-breakpoint
CREATE INDEX "login_attempts_email_idx" ON "login_attempts" USING btree ("email","attempted_at");--> statement-breakpoint
CREATE INDEX "login_attempts_ip_idx" ON "login_attempts" USING btree ("ip","attempted_at");--> statement-breakpoint
CREATE UNIQUE INDEX "users_email_lower_key" ON "users" USING btree (lower("email"));
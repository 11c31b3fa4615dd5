CREATE TABLE "scheduled_job_runs" (
	"job" text PRIMARY KEY NOT NULL,
	"last_started_at" timestamp (3) with time zone NOT NULL,
	"last_finished_at" timestamp (3) with time zone,
	"last_replica" text NOT NULL,
	"last_outcome" text
);
--> statement-breakpoint
CREATE TABLE "service_replicas" (
	"id" text PRIMARY KEY NOT NULL,
	"role" "server_role" NOT NULL,
	"host" text NOT NULL,
	"port" integer NOT NULL,
	"url" text,
	"pid" integer NOT NULL,
	"version" text NOT NULL,
	"default_disk" text,
	"driver" text,
	"heartbeat_interval_ms" integer NOT NULL,
	"started_at" timestamp (3) with time zone NOT NULL,
	"last_seen_at" timestamp (3) with time zone NOT NULL
);

ALTER TABLE "resumable_uploads" ALTER COLUMN "length" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "resumable_uploads" ADD COLUMN "backend" jsonb DEFAULT '{}'::jsonb NOT NULL;
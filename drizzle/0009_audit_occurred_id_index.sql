DROP INDEX "phi_tracking_occurred_idx";--> statement-breakpoint
CREATE INDEX "phi_tracking_occurred_idx" ON "phi_file_tracking" USING btree ("occurred_at","id");
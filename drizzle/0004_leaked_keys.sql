ALTER TABLE "api_keys" ADD COLUMN "revocation_reason" text;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "leaked_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "leak_url" text;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "leak_source" text;
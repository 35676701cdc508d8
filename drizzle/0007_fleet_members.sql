CREATE TABLE "fleet_members" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"credential_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	"last_seen_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "fleet_settings" (
	"name" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL
);

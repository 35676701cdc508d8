CREATE TABLE "audit_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"account_id" uuid,
	"actor_user_id" uuid,
	"actor_email" text,
	"action" text NOT NULL,
	"key_id" text,
	"client_address" text,
	"user_agent" text,
	"details" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "key_callers" (
	"key_id" text NOT NULL,
	"account_id" uuid NOT NULL,
	"client_address" text NOT NULL,
	"user_agent" text NOT NULL,
	"first_seen_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL,
	"requests" bigint NOT NULL,
	CONSTRAINT "key_callers_key_id_client_address_user_agent_pk" PRIMARY KEY("key_id","client_address","user_agent")
);
--> statement-breakpoint
CREATE TABLE "key_usage" (
	"key_id" text NOT NULL,
	"account_id" uuid NOT NULL,
	"granularity" text NOT NULL,
	"bucket_start" timestamp with time zone NOT NULL,
	"requests" bigint NOT NULL,
	CONSTRAINT "key_usage_key_id_granularity_bucket_start_pk" PRIMARY KEY("key_id","granularity","bucket_start")
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "last_used_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_actor_user_id_users_id_fk" FOREIGN KEY ("actor_user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "audit_events_account_idx" ON "audit_events" USING btree ("account_id","id");--> statement-breakpoint
CREATE INDEX "audit_events_created_idx" ON "audit_events" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "key_callers_seen_idx" ON "key_callers" USING btree ("last_seen_at");--> statement-breakpoint
CREATE INDEX "key_usage_account_idx" ON "key_usage" USING btree ("account_id","granularity","bucket_start");--> statement-breakpoint
CREATE INDEX "key_usage_bucket_idx" ON "key_usage" USING btree ("granularity","bucket_start");
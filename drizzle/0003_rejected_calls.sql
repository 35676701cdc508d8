CREATE TABLE "key_rejected_callers" (
	"key_id" text NOT NULL,
	"account_id" uuid NOT NULL,
	"client_address" text NOT NULL,
	"user_agent" text NOT NULL,
	"first_seen_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL,
	"requests" bigint NOT NULL,
	CONSTRAINT "key_rejected_callers_key_id_client_address_user_agent_pk" PRIMARY KEY("key_id","client_address","user_agent")
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "last_rejected_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "key_usage" ADD COLUMN "rejected" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "key_rejected_callers_seen_idx" ON "key_rejected_callers" USING btree ("last_seen_at");
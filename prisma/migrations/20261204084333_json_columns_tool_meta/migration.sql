-- JSON columns become `json`, which keeps the key order a server sent (`jsonb` reorders keys and refuses
-- \u0000); a tool definition's JSON parts become text, which keeps every digit as well. Existing values
-- convert as they are. Tool gains the server's `_meta`; Integration a sync notice.

-- AlterTable
ALTER TABLE "AuditEvent" ALTER COLUMN "data" SET DATA TYPE JSON USING "data"::json;

-- AlterTable
ALTER TABLE "Integration" ADD COLUMN     "syncNotice" TEXT,
ALTER COLUMN "capabilities" SET DATA TYPE JSON USING "capabilities"::json,
ALTER COLUMN "oauthDiscovery" SET DATA TYPE JSON USING "oauthDiscovery"::json;

-- AlterTable (a tool definition's JSON parts become JSON text, stored exactly as serialized)
ALTER TABLE "Tool" ADD COLUMN     "meta" TEXT,
ALTER COLUMN "inputSchema" SET DATA TYPE TEXT USING "inputSchema"::text,
ALTER COLUMN "outputSchema" SET DATA TYPE TEXT USING "outputSchema"::text,
ALTER COLUMN "annotations" SET DATA TYPE TEXT USING "annotations"::text;

-- AlterTable
ALTER TABLE "OAuthPending" ALTER COLUMN "endpoints" SET DATA TYPE JSON USING "endpoints"::json;

-- AlterTable
ALTER TABLE "Template" ALTER COLUMN "extraAuthParams" SET DATA TYPE JSON USING "extraAuthParams"::json;

-- AlterTable (the default is re-set so it is a `json` constant, as in a fresh database)
ALTER TABLE "RecipeInstall" ALTER COLUMN "progress" DROP DEFAULT,
ALTER COLUMN "progress" SET DATA TYPE JSON USING "progress"::json,
ALTER COLUMN "progress" SET DEFAULT '{}';

-- AlterTable
ALTER TABLE "ToolCall" ALTER COLUMN "arguments" SET DATA TYPE JSON USING "arguments"::json,
ALTER COLUMN "result" SET DATA TYPE JSON USING "result"::json;

-- Tool is keyed by (integrationId, name), which was already unique: one index per row instead of two.
ALTER TABLE "Tool" DROP CONSTRAINT "Tool_pkey";
ALTER TABLE "Tool" DROP COLUMN "id";
DROP INDEX "Tool_integrationId_name_key";
ALTER TABLE "Tool" ADD CONSTRAINT "Tool_pkey" PRIMARY KEY ("integrationId", "name");

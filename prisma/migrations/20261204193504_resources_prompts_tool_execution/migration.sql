-- AlterTable
ALTER TABLE "Tool" ADD COLUMN     "execution" TEXT;

-- CreateTable
CREATE TABLE "Resource" (
    "integrationId" TEXT NOT NULL,
    "uri" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "title" TEXT,
    "description" TEXT,
    "mimeType" TEXT,
    "size" DOUBLE PRECISION,
    "annotations" TEXT,
    "meta" TEXT,
    "definitionHash" TEXT NOT NULL,
    "changedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Resource_pkey" PRIMARY KEY ("integrationId","uri")
);

-- CreateTable
CREATE TABLE "ResourceTemplate" (
    "integrationId" TEXT NOT NULL,
    "uriTemplate" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "title" TEXT,
    "description" TEXT,
    "mimeType" TEXT,
    "annotations" TEXT,
    "meta" TEXT,
    "definitionHash" TEXT NOT NULL,
    "changedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ResourceTemplate_pkey" PRIMARY KEY ("integrationId","uriTemplate")
);

-- CreateTable
CREATE TABLE "Prompt" (
    "integrationId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "title" TEXT,
    "description" TEXT,
    "arguments" TEXT,
    "meta" TEXT,
    "definitionHash" TEXT NOT NULL,
    "changedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Prompt_pkey" PRIMARY KEY ("integrationId","name")
);

-- AddForeignKey
ALTER TABLE "Resource" ADD CONSTRAINT "Resource_integrationId_fkey" FOREIGN KEY ("integrationId") REFERENCES "Integration"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ResourceTemplate" ADD CONSTRAINT "ResourceTemplate_integrationId_fkey" FOREIGN KEY ("integrationId") REFERENCES "Integration"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Prompt" ADD CONSTRAINT "Prompt_integrationId_fkey" FOREIGN KEY ("integrationId") REFERENCES "Integration"("id") ON DELETE CASCADE ON UPDATE CASCADE;

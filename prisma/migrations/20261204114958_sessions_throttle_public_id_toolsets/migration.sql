-- AlterTable
ALTER TABLE "User" ADD COLUMN     "publicId" UUID NOT NULL DEFAULT gen_random_uuid();

-- AlterTable
ALTER TABLE "ApiToken" ADD COLUMN     "searchMode" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "ToolCall" ADD COLUMN     "apiTokenId" TEXT,
ADD COLUMN     "toolsetId" TEXT;

-- CreateTable
CREATE TABLE "Session" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "userAgent" TEXT,
    "ip" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "Session_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "LoginThrottle" (
    "key" TEXT NOT NULL,
    "failures" INTEGER NOT NULL DEFAULT 0,
    "windowStart" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "blockedUntil" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "LoginThrottle_pkey" PRIMARY KEY ("key")
);

-- CreateTable
CREATE TABLE "Toolset" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "readOnly" BOOLEAN NOT NULL DEFAULT false,
    "searchMode" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Toolset_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ToolsetItem" (
    "id" TEXT NOT NULL,
    "toolsetId" TEXT NOT NULL,
    "integrationId" TEXT NOT NULL,
    "toolName" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "ToolsetItem_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "_ApiTokenToToolset" (
    "A" TEXT NOT NULL,
    "B" TEXT NOT NULL,

    CONSTRAINT "_ApiTokenToToolset_AB_pkey" PRIMARY KEY ("A","B")
);

-- CreateIndex
CREATE INDEX "Session_userId_idx" ON "Session"("userId");

-- CreateIndex
CREATE UNIQUE INDEX "Toolset_userId_name_key" ON "Toolset"("userId", "name");

-- CreateIndex
CREATE INDEX "ToolsetItem_integrationId_idx" ON "ToolsetItem"("integrationId");

-- CreateIndex
CREATE UNIQUE INDEX "ToolsetItem_toolsetId_integrationId_toolName_key" ON "ToolsetItem"("toolsetId", "integrationId", "toolName");

-- CreateIndex
CREATE INDEX "_ApiTokenToToolset_B_index" ON "_ApiTokenToToolset"("B");

-- CreateIndex
CREATE UNIQUE INDEX "User_publicId_key" ON "User"("publicId");

-- AddForeignKey
ALTER TABLE "Session" ADD CONSTRAINT "Session_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ToolCall" ADD CONSTRAINT "ToolCall_toolsetId_fkey" FOREIGN KEY ("toolsetId") REFERENCES "Toolset"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ToolCall" ADD CONSTRAINT "ToolCall_apiTokenId_fkey" FOREIGN KEY ("apiTokenId") REFERENCES "ApiToken"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Toolset" ADD CONSTRAINT "Toolset_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ToolsetItem" ADD CONSTRAINT "ToolsetItem_toolsetId_fkey" FOREIGN KEY ("toolsetId") REFERENCES "Toolset"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ToolsetItem" ADD CONSTRAINT "ToolsetItem_integrationId_fkey" FOREIGN KEY ("integrationId") REFERENCES "Integration"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "_ApiTokenToToolset" ADD CONSTRAINT "_ApiTokenToToolset_A_fkey" FOREIGN KEY ("A") REFERENCES "ApiToken"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "_ApiTokenToToolset" ADD CONSTRAINT "_ApiTokenToToolset_B_fkey" FOREIGN KEY ("B") REFERENCES "Toolset"("id") ON DELETE CASCADE ON UPDATE CASCADE;

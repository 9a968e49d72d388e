-- AlterTable
ALTER TABLE "Account" ADD COLUMN     "idTokenEnc" TEXT,
ADD COLUMN     "idTokenExpiresAt" TIMESTAMP(3);

-- AlterTable
ALTER TABLE "OAuthClient" ADD COLUMN     "keyAlg" TEXT,
ADD COLUMN     "privateKeyEnc" TEXT;

-- AlterTable
ALTER TABLE "Template" ADD COLUMN     "clientKeyAlg" TEXT,
ADD COLUMN     "clientPrivateKeyEnc" TEXT;

-- AlterTable
ALTER TABLE "Integration" ADD COLUMN     "stepUpScope" TEXT;

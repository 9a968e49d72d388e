// GET /api/metrics — Prometheus metrics for a scraper holding METRICS_TOKEN (404 when it is not set).
import { handleMetricsRequest } from "@/lib/metrics";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

export { handleMetricsRequest as GET };

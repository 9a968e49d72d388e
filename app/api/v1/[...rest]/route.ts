// * /api/v1/<unknown> — JSON 404 instead of an HTML page
import { jsonError } from "@/lib/http";

const notFound = () => jsonError("not_found", "No such API route", 404);
export { notFound as GET, notFound as POST, notFound as PUT, notFound as PATCH, notFound as DELETE };

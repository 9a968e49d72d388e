// The playground's form for schemas as real servers write them: `$ref` into `$defs`, a oneOf choice of
// shapes with `const` discriminators, a nullable field, a tuple, a map drawn as a JSON field checked live,
// and an optional nested object left empty (not sent). The call reaches the fixture server, which answers
// with the arguments it received.
import { expect, test } from "@playwright/test";
import type { McpFixture } from "../test/fixtures/mcp-servers";
import { startSchemaServer } from "../test/fixtures/schema-servers";
import { addIntegration, alertOf, signUp, uniqueEmail } from "./helpers";

let server: McpFixture;

test.beforeAll(async () => {
  server = await startSchemaServer();
});
test.afterAll(async () => {
  await server?.close();
});

test("fill $ref, oneOf, nullable, tuple and JSON fields, leave an optional object empty, and call", async ({
  page,
}) => {
  await signUp(page, uniqueEmail("schemas"));
  await addIntegration(page, "Schemas", server.url);
  await expect(page.getByText(/Connected to .*tools discovered/)).toBeVisible();
  await page.getByRole("link", { name: "Open Schemas" }).click();
  await page.getByRole("link", { name: "Playground", exact: true }).click();
  await page.getByLabel("Tool", { exact: true }).selectOption("ship");

  // The live check names what is missing before anything is sent.
  const check = page.getByTestId("schema-check");
  await expect(check).toContainText("recipient is required");
  await expect(check).toContainText("to.street is required");
  await expect(check).not.toContainText("billing");

  await page.getByLabel("recipient", { exact: true }).fill("Ada");
  // `to` is a $ref into $defs: its fields are drawn, and a broken one is named where it is.
  const to = page.getByRole("group", { name: /^Ship to/ });
  await to.getByLabel("street", { exact: true }).fill("1 Main St");
  await expect(check).not.toContainText("to.street");
  await expect(check).toContainText("to.city is required");
  await expect(to.getByTestId("field-issue")).toHaveText("is required");
  await to.getByLabel("city", { exact: true }).fill("Springfield");

  // oneOf: choose the Phone shape; its const discriminator is filled in.
  const contact = page.getByRole("group", { name: /^Contact/ });
  await contact.getByLabel("contact shape").selectOption({ label: "Phone" });
  await expect(contact.getByTestId("const-value")).toHaveText('"phone"');
  await contact.getByLabel("number", { exact: true }).fill("555 0100");

  // Nullable: send null explicitly.
  await page.getByLabel("note is null").check();

  // Tuple: two positions, each with its own type.
  await page.getByLabel("position[0]", { exact: true }).fill("51.5");
  await page.getByLabel("position[1]", { exact: true }).fill("-0.12");

  // A map can't be drawn: its JSON editor is parsed as typed and checked against the schema live.
  const labels = page.getByLabel("labels (JSON)");
  await labels.fill('{"env": ');
  await expect(page.getByText(/is not valid JSON/)).toBeVisible();
  await labels.fill('{"env": 5}');
  await expect(check).toContainText("labels.env must be string (got integer)");
  await labels.fill('{"env": "prod"}');

  // The billing address stays empty: it is optional, so it is not demanded and not sent.
  await expect(check).toHaveText("Arguments match the schema.");
  await page.getByRole("button", { name: "Call ship" }).click();
  const result = page.getByTestId("tool-result");
  await expect(result).toContainText('"recipient": "Ada"');
  await expect(result).toContainText('"number": "555 0100"');
  await expect(result).toContainText('"note": null');
  await expect(result).not.toContainText("billing");
  expect(server.calls.at(-1)?.arguments).toEqual({
    recipient: "Ada",
    to: { street: "1 Main St", city: "Springfield" },
    contact: { kind: "phone", number: "555 0100" },
    note: null,
    position: [51.5, -0.12],
    version: 2,
    labels: { env: "prod" },
  });

  // A started optional object must be completed; emptied again, it is left out again.
  const billing = page.getByRole("group", { name: /^Billing address/ });
  await billing.getByLabel("street", { exact: true }).fill("2 Side St");
  await expect(check).toContainText("billing.city is required");
  await billing.getByLabel("street", { exact: true }).fill("");
  await expect(check).toHaveText("Arguments match the schema.");

  // A value the form allows but the schema doesn't is refused by the engine before the server sees it.
  const calls = server.calls.length;
  await contact.getByLabel("number", { exact: true }).fill("call me");
  await expect(check).toContainText("contact.number must match the pattern");
  await page.getByRole("button", { name: "Call ship" }).click();
  await expect(alertOf(page)).toContainText("Invalid arguments: contact.number must match the pattern");
  expect(server.calls.length).toBe(calls);

  // A network $ref is never fetched: that part is left to the server, the rest is still checked.
  await page.getByLabel("Tool", { exact: true }).selectOption("lookup");
  await page.getByLabel("id", { exact: true }).fill("Not An Id");
  await expect(check).toContainText('id must match the pattern "^[a-z0-9-]+$"');
  await page.getByLabel("id", { exact: true }).fill("ada-1");
  await page.getByLabel("profile (JSON)").fill('{"anything": [1, 2]}');
  await expect(check).toHaveText("Arguments match the schema.");
  await page.getByRole("button", { name: "Call lookup" }).click();
  await expect(result).toContainText('"anything"');
});

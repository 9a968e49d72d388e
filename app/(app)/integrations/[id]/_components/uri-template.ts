// RFC 6570 URI templates with string values (what a resource template's form fills): the operators
// "", +, #, ., /, ;, ?, & and the :n prefix modifier; an empty value leaves a named expression out.
const EXPRESSION = /\{([^{}]*)\}/g;
const OPERATORS = new Set(["+", "#", ".", "/", ";", "?", "&"]);

type VarSpec = { name: string; prefix?: number };

function parse(body: string): { op: string; vars: VarSpec[] } {
  const op = OPERATORS.has(body[0] ?? "") ? body[0] : "";
  const vars = body
    .slice(op.length)
    .split(",")
    .map((raw) => raw.trim().replace(/\*$/, ""))
    .filter(Boolean)
    .map((raw) => {
      const [name, len] = raw.split(":");
      const prefix = len && /^\d+$/.test(len) ? Number(len) : undefined;
      return { name, prefix };
    });
  return { op, vars };
}

/** The variable names of a template, in order, without duplicates. */
export function templateVariables(template: string): string[] {
  const names: string[] = [];
  for (const m of template.matchAll(EXPRESSION))
    for (const v of parse(m[1]).vars) if (!names.includes(v.name)) names.push(v.name);
  return names;
}

const encodeUnreserved = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
// Reserved expansion keeps reserved characters and existing percent-escapes.
const encodeReserved = (s: string) =>
  s
    .split(/(%[0-9A-Fa-f]{2})/)
    .map((part, i) => (i % 2 ? part : encodeURI(part)))
    .join("");

/** Expands a template; a variable with no value yields nothing (so `{?q}` disappears). */
export function expandUriTemplate(template: string, values: Record<string, string>): string {
  return template.replace(EXPRESSION, (_, body: string) => {
    const { op, vars } = parse(body);
    const first = { "": "", "+": "", "#": "#", ".": ".", "/": "/", ";": ";", "?": "?", "&": "&" }[op] ?? "";
    const sep = { "": ",", "+": ",", "#": ",", ".": ".", "/": "/", ";": ";", "?": "&", "&": "&" }[op] ?? ",";
    const named = op === ";" || op === "?" || op === "&";
    const encode = op === "+" || op === "#" ? encodeReserved : encodeUnreserved;
    const parts: string[] = [];
    for (const v of vars) {
      const raw = values[v.name];
      if (raw === undefined || raw === "") continue;
      const value = encode(v.prefix !== undefined ? [...raw].slice(0, v.prefix).join("") : raw);
      parts.push(named ? `${v.name}=${value}` : value);
    }
    return parts.length ? first + parts.join(sep) : "";
  });
}

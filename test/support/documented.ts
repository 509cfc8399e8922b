import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import formats from "ajv-formats";
import { type OpenApiDocument, openApiDocument } from "../../server/http/openapi.js";

/**
 * Every answer a test gets through `salvo.api` (test/support/salvo.ts) is held against the OpenAPI
 * document (GET /api/openapi.json): its status must be documented for its operation, the headers
 * documented for that answer must be there, and a JSON body must match the answer's schema. So
 * the REST tests, whatever they test, also check the document on every answer they record. A
 * request no documented operation matches (a hostile path) is not checked here.
 */
let doc: OpenApiDocument | undefined;
const ajv = new Ajv2020({ strict: false, allErrors: true });
formats.default(ajv);
const validators = new Map<string, ValidateFunction>();

/** The documented operation a request hits: its path template matched against the URL's path. */
export function operationOf(method: string, url: string) {
  doc ??= openApiDocument();
  const path = new URL(url, "http://x").pathname;
  for (const [template, ops] of Object.entries(doc.paths)) {
    const pattern = template.replace(/\{(key|path)\}/g, ".+").replace(/\{[^}]+\}/g, "[^/]+");
    const op = ops[method.toLowerCase()];
    if (op && new RegExp(`^${pattern}$`).test(path)) return { template, op };
  }
  return undefined;
}

/** What is wrong with `res` as an answer to `method url` by the document; undefined when nothing. */
export async function undocumented(method: string, url: string, res: Response): Promise<string | undefined> {
  const found = operationOf(method, url);
  if (!found) return undefined;
  const { template, op } = found;
  const where = `${method} ${template} answered ${res.status}`;
  const answer = op.responses[String(res.status)];
  if (!answer) return `${where}, which the document does not list (${Object.keys(op.responses).join(", ")})`;
  for (const name of Object.keys(answer.headers ?? {}))
    if (!res.headers.has(name)) return `${where} without its documented ${name} header`;
  const schema = (answer.content as Record<string, { schema: object }> | undefined)?.["application/json"]?.schema;
  if (!schema) return undefined;
  if (!res.headers.get("content-type")?.startsWith("application/json"))
    return `${where} as ${res.headers.get("content-type")}, where the document has JSON`;
  const key = `${method} ${template} ${res.status}`;
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile(schema);
    validators.set(key, validate);
  }
  const text = await res.clone().text();
  if (text === "") return `${where} with an empty body, where the document has a JSON schema`;
  if (!validate(JSON.parse(text))) return `${where}: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 2000)}`;
  return undefined;
}

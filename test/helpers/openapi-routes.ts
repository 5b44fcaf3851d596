import type { FastifyInstance } from 'fastify';

/**
 * The route list as the OpenAPI document describes it, so security suites cover a route the day it
 * is added, without editing them.
 */
export type JsonSchema = {
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  default?: unknown;
  pattern?: string;
};

export interface ParamSpec {
  name: string;
  required: boolean;
  schema: JsonSchema;
}

export interface ApiRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** OpenAPI template, e.g. /v1/projects/{project}/members/{user}. */
  path: string;
  pathParams: ParamSpec[];
  queryParams: ParamSpec[];
  body: JsonSchema | undefined;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

interface OpenApiOperation {
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: JsonSchema }>;
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
}

export async function openApiRoutes(app: FastifyInstance): Promise<ApiRoute[]> {
  const res = await app.inject({ url: '/openapi.json' });
  if (res.statusCode !== 200) throw new Error(`/openapi.json answered ${res.statusCode}`);
  const doc = res.json<{ paths: Record<string, Partial<Record<(typeof METHODS)[number], OpenApiOperation>>> }>();
  const routes: ApiRoute[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      const params = op.parameters ?? [];
      const spec = (p: (typeof params)[number]): ParamSpec => ({ name: p.name, required: !!p.required, schema: p.schema ?? {} });
      // Path params come from the template itself too, in case a route declares no params schema.
      const declared = params.filter((p) => p.in === 'path').map(spec);
      const inTemplate = [...path.matchAll(/\{([^}]+)\}/g)].map((x) => x[1]!);
      const pathParams = inTemplate.map((n) => declared.find((d) => d.name === n) ?? { name: n, required: true, schema: { type: 'string' } });
      routes.push({
        method: m.toUpperCase() as ApiRoute['method'],
        path,
        pathParams,
        queryParams: params.filter((p) => p.in === 'query').map(spec),
        body: op.requestBody?.content?.['application/json']?.schema,
      });
    }
  }
  return routes;
}

/** Fills an OpenAPI path template; values are URL-encoded unless `raw` (the fuzzer sends raw garbage). */
export function fillPath(template: string, values: Record<string, string>, raw = false): string {
  return template.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`no value for path param ${name} in ${template}`);
    return raw ? v : encodeURIComponent(v);
  });
}

export type ValueFor = (propName: string, schema: JsonSchema) => unknown;

/**
 * A minimal valid-looking value for a JSON schema: every property filled (optional ones too, so
 * "at least one field" refinements pass), strings short and slug-like, formats honoured.
 * `override` lets a caller inject chosen values by property name (hostile ids in the matrix).
 */
export function sampleFor(schema: JsonSchema | undefined, override?: ValueFor, propName = ''): unknown {
  if (!schema) return {};
  if (override) {
    const v = override(propName, schema);
    if (v !== undefined) return v;
  }
  if (schema.const !== undefined) return schema.const;
  if (schema.enum?.length) return schema.enum[0];
  if (schema.default !== undefined) return schema.default;
  const alt = schema.anyOf ?? schema.oneOf;
  if (alt?.length) return sampleFor(alt.find((s) => s.type !== 'null') ?? alt[0], override, propName);
  if (schema.allOf?.length) return sampleFor(schema.allOf[0], override, propName);
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, s] of Object.entries(schema.properties ?? {})) out[k] = sampleFor(s, override, k);
      return out;
    }
    case 'array':
      return schema.minItems ? [sampleFor(schema.items, override, propName)] : [];
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return false;
    case 'string':
      return sampleString(schema);
    default:
      return schema.properties ? sampleFor({ ...schema, type: 'object' }, override, propName) : 'x';
  }
}

// Candidates tried in order against a string schema's pattern and length bounds.
const STRING_CANDIDATES = [
  'qa-sample', 'main', 'a', 'x@example.test', '0123456789abcdef0123456789abcdef01234567', 'HEAD', 'src/index.ts',
  '5b0d3f52-8a4e-4c3b-9f7e-2b1f6d1c9a01', 'https://example.test/x', '1', 'A', 'qa_sample', 'sample.txt',
];

function sampleString(s: JsonSchema): string {
  switch (s.format) {
    case 'uuid':
      return '5b0d3f52-8a4e-4c3b-9f7e-2b1f6d1c9a01';
    case 'email':
      return 'sample@example.test';
    case 'date-time':
      return new Date(0).toISOString();
    case 'uri':
    case 'url':
      return 'https://example.test/x';
    default: {
      let re: RegExp | undefined;
      try {
        re = s.pattern ? new RegExp(s.pattern, 'u') : undefined;
      } catch {
        re = undefined;
      }
      const fits = (v: string) => (!re || re.test(v)) && v.length >= (s.minLength ?? 0) && v.length <= (s.maxLength ?? Infinity);
      for (const c of STRING_CANDIDATES) {
        const padded = s.minLength && c.length < s.minLength ? c.padEnd(s.minLength, c.slice(-1)) : c;
        if (fits(padded)) return padded;
      }
      return 'qa-sample';
    }
  }
}

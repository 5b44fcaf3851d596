import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { fillPath, openApiRoutes, sampleFor, type ApiRoute } from '../helpers/openapi-routes.js';
import { addOrgMember, createProjectVia } from '../helpers/tenancy-fixtures.js';

/**
 * Malformed bodies, params, headers and encodings across every route of the OpenAPI document.
 * Seeded, so a failure reproduces; every failing request is listed, not just the first.
 * The rule under test: never a 5xx, and every 4xx carries error.code and correlation_id.
 */
const SEED = 20_261_125;
const RUNS = 1_500;

type Method = ApiRoute['method'];
interface FuzzRequest {
  method: Method | 'HEAD' | 'OPTIONS';
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
}

const BAD_SEGMENTS = [
  '..', '../..', '%2e%2e', '%2e%2e%2f%2e%2e', '%00', 'a%00b', '%', '%ZZ', '%E0%A4%A', '%C0%AF', ';', '$', '*', '~', '.', '-',
  "'%20or%201=1--", '%27', '%22%3E%3Cscript%3E', '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
  'x'.repeat(300), 'x'.repeat(499), 'x'.repeat(501), 'a'.repeat(5000), encodeURIComponent('ü✓漢字🙂'), encodeURIComponent('\u202e\u0000\ufeff'),
  '12345678-1234-1234-1234-1234567890ab', '%0d%0aSet-Cookie:x=1', 'NaN', '-1', '1e309', '__proto__', 'constructor',
];

const jsonValue = fc.jsonValue({ maxDepth: 3 });
const weirdString = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.string({ unit: 'grapheme', maxLength: 50 }),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.constantFrom('\u0000', 'a\u0000b', '\ud800', '\udfff', '\u202e', '\ufeff', 'null', 'true', '-0', '1e400', "' OR 1=1 --", '${jndi:x}', '../../etc/passwd'),
  fc.integer({ min: 1_000, max: 300_000 }).map((n) => 'x'.repeat(n)),
);
const wrongTyped = fc.oneof(
  fc.constant(null), fc.boolean(), fc.integer(), fc.double(), weirdString,
  fc.array(weirdString, { maxLength: 5 }), fc.dictionary(weirdString, jsonValue, { maxKeys: 5 }),
  fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(-1), fc.constant(1e308),
);

describe('fuzz: malformed requests against every route', () => {
  let t: TestApp;
  let routes: ApiRoute[];
  let validKeys: string[];
  let projectSlug: string;

  beforeAll(async () => {
    t = await createTestApp();
    const o = await newOrg(t, 'fuzz@f.test', 'Fuzz');
    const m = await addOrgMember(t, o, 'fuzz-member@f.test');
    projectSlug = (await createProjectVia(t, o.api_key, 'fuzzed')).slug;
    validKeys = [o.api_key, m.api_key];
    routes = await openApiRoutes(t.app);
  });
  afterAll(async () => t.close());

  const arbRequest = (): fc.Arbitrary<FuzzRequest> => {
    const route = fc.constantFrom(...routes);
    const credentials = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...validKeys).map((k) => ({ 'x-api-key': k })) },
      { weight: 1, arbitrary: fc.constant({}) },
      {
        weight: 3,
        arbitrary: fc.oneof(
          fc.string({ maxLength: 80 }).map((s) => ({ 'x-api-key': s.replace(/[^\x20-\x7e]/g, '') })),
          fc.constantFrom(...validKeys).map((k) => ({ 'x-api-key': k + 'x' })),
          fc.constantFrom(...validKeys).map((k) => ({ 'x-api-key': ` ${k.slice(0, -2)} ` })),
          fc.constantFrom(...validKeys).map((k) => ({ authorization: `bearer  ${k}` })),
          fc.constantFrom(...validKeys).map((k) => ({ authorization: `Basic ${Buffer.from(k).toString('base64')}` })),
          fc.constantFrom(
            { authorization: 'Bearer' }, { authorization: 'Bearer ' }, { authorization: 'Bearer a.b.c' },
            { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' },
            { authorization: `Bearer ${'x'.repeat(8000)}` }, { 'x-api-key': 'qk_' }, { 'x-api-key': `qk_${'A'.repeat(8)}_${'b'.repeat(32)}` },
            { 'x-api-key': 'qk_aaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', authorization: 'Bearer garbage' },
            { authorization: 'Digest username="x"' }, { authorization: '\t' },
          ),
        ),
      },
    );
    const contentType = fc.constantFrom(
      'application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'text/plain', 'application/xml',
      'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', '', 'application/json, text/plain',
      '*/*', 'application/vnd.api+json', 'application', ';;;', 'application/json; boundary',
    );
    const body = fc.oneof(
      { weight: 3, arbitrary: wrongTyped.map((v) => JSON.stringify(v) ?? 'null') },
      { weight: 2, arbitrary: fc.constantFrom('{', '{"a":', '[1,2', '{"a":1}}', "{'a':1}", '{"a":NaN}', '{"a":undefined}', '\u0000', '', ' ', 'nul', '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"x":1}}}', `${'['.repeat(5000)}${']'.repeat(5000)}`) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)) },
      { weight: 1, arbitrary: fc.constantFrom(Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]), Buffer.from([0xc3, 0x28, 0x7b, 0x7d]), Buffer.from('\ufeff{"name":"x"}')) },
    );
    const extraHeaders = fc.dictionary(
      fc.constantFrom('x-request-id', 'accept', 'accept-encoding', 'content-encoding', 'x-forwarded-for', 'origin', 'user-agent', 'transfer-encoding', 'content-length', 'x-http-method-override', 'cookie'),
      fc.oneof(fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')), fc.constantFrom('gzip', 'br', '999999', '-1', 'chunked', 'x'.repeat(2000), '0', 'DELETE', '../', '*/*')),
      { maxKeys: 3 },
    );
    const query = fc.oneof(
      fc.constant(''),
      fc.constantFrom('?limit=-1', '?limit=abc', '?limit=1e9', '?limit=', '?limit=1&limit=2', '?cursor=%00', '?cursor=' + 'z'.repeat(1000), '?a[b]=c', '?__proto__[x]=1', '?%', '?%ZZ=1', '?since=yesterday', '?until=2020-13-45T99:99:99Z', '?user=not-a-uuid', '?project=..', '?actor=' + randomUUID(), '?cursor=-5', '?cursor=99999999999999999999'),
    );
    const segment = fc.oneof(fc.constantFrom(...BAD_SEGMENTS), fc.string({ maxLength: 30 }).map(encodeURIComponent), fc.constant(randomUUID()), fc.constant(projectSlug));

    return fc
      .record({
        route,
        credentials,
        method: fc.option(fc.constantFrom<FuzzRequest['method']>('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'), { freq: 8 }),
        segments: fc.array(segment, { minLength: 3, maxLength: 3 }),
        mutateBody: fc.boolean(),
        validishBody: fc.boolean(),
        body,
        contentType,
        extraHeaders,
        query,
      })
      .map((x) => {
        const values = Object.fromEntries(x.route.pathParams.map((p, i) => [p.name, x.segments[i % 3]!]));
        const url = fillPath(x.route.path, values, true) + x.query;
        const headers: Record<string, string> = { ...x.extraHeaders, ...(x.credentials as Record<string, string>) };
        let payload: string | Buffer | undefined;
        if (x.route.body || x.method) {
          // Either garbage, or a schema-shaped body with one property replaced by garbage.
          if (x.validishBody && x.route.body) {
            const b = sampleFor(x.route.body) as Record<string, unknown>;
            const keys = Object.keys(b);
            if (keys.length) b[keys[x.segments[0]!.length % keys.length]!] = x.mutateBody ? null : x.body.toString().slice(0, 500);
            payload = JSON.stringify(b);
          } else {
            payload = x.body;
          }
          if (x.contentType) headers['content-type'] = x.contentType;
        }
        return { method: x.method ?? x.route.method, url, headers, ...(payload !== undefined && { payload }) };
      });
  };

  it(`sends ${RUNS}+ malformed requests: 0 responses ≥ 500, every 4xx carries error.code and correlation_id`, async () => {
    const requests = fc.sample(arbRequest(), { seed: SEED, numRuns: RUNS });
    // A few that random generation would rarely hit.
    const fixed: FuzzRequest[] = [
      { method: 'POST', url: '/v1/projects', headers: { 'x-api-key': validKeys[0]!, 'content-type': 'application/json' }, payload: '{"slug":"' + 'a'.repeat(11 * 1024 * 1024) + '"}' },
      { method: 'POST', url: '/v1/keys', headers: { 'x-api-key': validKeys[0]!, 'content-type': 'application/json', 'content-length': '5' }, payload: '{"name":"abcdefgh"}' },
      { method: 'GET', url: '/v1/projects/%', headers: { 'x-api-key': validKeys[0]! } },
      { method: 'GET', url: '/v1/projects/' + 'a'.repeat(10_000), headers: { 'x-api-key': validKeys[0]! } },
      { method: 'GET', url: '/v1/../v1/projects', headers: { 'x-api-key': validKeys[0]! } },
      { method: 'GET', url: '//v1//projects', headers: {} },
      { method: 'GET', url: '/v1/projects?' + 'a=1&'.repeat(5000), headers: { 'x-api-key': validKeys[0]! } },
      { method: 'PUT', url: `/v1/projects/${projectSlug}/members/%00`, headers: { 'x-api-key': validKeys[0]!, 'content-type': 'application/json' }, payload: '{"role":"admin"}' },
    ];
    // Systematically: every path and query parameter of every route gets each nasty value once.
    const NASTY = ['%00', 'a%00b', '%ZZ', '%', '..', '%2e%2e%2f', 'x'.repeat(600), '%C0%AF', '-1', '99999999999999999999'];
    for (const r of routes) {
      const plain = Object.fromEntries(r.pathParams.map((p) => [p.name, projectSlug]));
      const body = r.body ? JSON.stringify(sampleFor(r.body)) : undefined;
      const headers = { 'x-api-key': validKeys[0]!, ...(body && { 'content-type': 'application/json' }) };
      for (const v of NASTY) {
        for (const p of r.pathParams) fixed.push({ method: r.method, url: fillPath(r.path, { ...plain, [p.name]: v }, true), headers, ...(body && { payload: body }) });
        for (const q of r.queryParams) fixed.push({ method: r.method, url: `${fillPath(r.path, plain)}?${q.name}=${v}`, headers, ...(body && { payload: body }) });
      }
    }
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let sent = 0;
    for (const r of [...requests, ...fixed]) {
      let res;
      try {
        res = await t.app.inject({ method: r.method, url: r.url, headers: r.headers, ...(r.payload !== undefined && { payload: r.payload }) });
      } catch (e) {
        // light-my-request refusing to build the request is a harness limit, not a server answer.
        failures.push(`could not send ${r.method} ${r.url.slice(0, 100)}: ${(e as Error).message}`);
        continue;
      }
      sent++;
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      const label = `${r.method} ${r.url.slice(0, 120)} ${JSON.stringify(r.headers).slice(0, 160)} ${String(r.payload ?? '').slice(0, 80)}`;
      if (res.statusCode >= 500) failures.push(`${res.statusCode} ← ${label} → ${res.body.slice(0, 200)}`);
      if (res.statusCode >= 400 && res.statusCode < 500 && r.method !== 'HEAD') {
        let body: { error?: { code?: unknown }; correlation_id?: unknown } | undefined;
        try {
          body = res.json();
        } catch {
          body = undefined;
        }
        if (typeof body?.error?.code !== 'string' || typeof body.correlation_id !== 'string') {
          failures.push(`${res.statusCode} without error.code/correlation_id ← ${label} → ${res.body.slice(0, 200)}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(1_000);
    // The fuzzer reaches the handlers, not only the authentication wall.
    const fourHundreds = [...statuses].filter(([s]) => s >= 400 && s < 500 && s !== 401).reduce((n, [, c]) => n + c, 0);
    expect(fourHundreds).toBeGreaterThan(200);
  }, 120_000);
});

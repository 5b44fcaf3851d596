import type { MergedFinding, ReviewSummary } from './types.js';

/**
 * SARIF 2.1.0 output, for GitHub code scanning and IDE viewers. Only the parts of the standard
 * that Quorum has data for are emitted; everything emitted follows the OASIS schema
 * (sarif-2.1.0-rtm.5), which the tests validate against when the schema package is installed.
 */
export const SARIF_SCHEMA_URI = 'https://json.schemastore.org/sarif-2.1.0.json';

export type SarifLevel = 'error' | 'warning' | 'note';

export interface SarifRule {
  id: string;
  name: string;
  shortDescription: { text: string };
  help?: { text: string };
  defaultConfiguration: { level: SarifLevel };
  properties: { tags: string[]; 'security-severity'?: string };
}

export interface SarifResult {
  ruleId: string;
  ruleIndex: number;
  level: SarifLevel;
  message: { text: string };
  locations: {
    physicalLocation: {
      artifactLocation: { uri: string; uriBaseId: string };
      region: { startLine: number; endLine: number };
    };
  }[];
  partialFingerprints: Record<string, string>;
  properties: { score: number; severity: number; agreement: number; panelSize: number; reviewers: string[]; category: string };
}

export interface SarifLog {
  $schema: string;
  version: '2.1.0';
  runs: {
    tool: { driver: { name: 'Quorum'; version: string; informationUri?: string; rules: SarifRule[] } };
    originalUriBaseIds: Record<string, { description: { text: string } }>;
    results: SarifResult[];
  }[];
}

/** Descriptions of known rules (the built-in catalogue satisfies this). */
export interface RuleDescription {
  title: string;
  suggestion?: string;
}

export interface SarifOptions {
  toolVersion: string;
  informationUri?: string;
  ruleCatalog?: ReadonlyMap<string, RuleDescription>;
}

/** Same bands the Markdown report implies: 7+ blocks, 4+ deserves attention, below is a note. */
export function sarifLevel(severity: number): SarifLevel {
  if (severity >= 7) return 'error';
  if (severity >= 4) return 'warning';
  return 'note';
}

/** Model findings have no rule id; they are grouped under one rule per category. */
function ruleIdOf(f: MergedFinding): string {
  return f.rule ?? `quorum/${f.category}`;
}

/** Relative paths as URI references: percent-encode what a URI cannot hold, keep the slashes. */
function toUri(path: string): string {
  return path.replace(/^\.?\//, '').split('/').map(encodeURIComponent).join('/');
}

export function toSarif(summary: ReviewSummary, options: SarifOptions): SarifLog {
  const rules: SarifRule[] = [];
  const index = new Map<string, number>();
  for (const f of summary.findings) {
    const id = ruleIdOf(f);
    const existing = index.get(id);
    if (existing !== undefined) {
      const rule = rules[existing] as SarifRule;
      if (sarifLevel(f.severity) === 'error' || (sarifLevel(f.severity) === 'warning' && rule.defaultConfiguration.level === 'note')) {
        rule.defaultConfiguration.level = sarifLevel(f.severity);
      }
      continue;
    }
    const known = options.ruleCatalog?.get(id);
    const rule: SarifRule = {
      id,
      name: id.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : '')),
      shortDescription: { text: known?.title ?? (f.rule ? f.title : `${f.category} finding reported by a model reviewer`) },
      defaultConfiguration: { level: sarifLevel(f.severity) },
      properties: { tags: [f.category] },
    };
    const help = known?.suggestion ?? (f.rule ? f.suggestion : undefined);
    if (help) rule.help = { text: help };
    if (f.category === 'security') rule.properties['security-severity'] = f.severity.toFixed(1);
    index.set(id, rules.length);
    rules.push(rule);
  }

  const results: SarifResult[] = summary.findings.map((f) => ({
    ruleId: ruleIdOf(f),
    ruleIndex: index.get(ruleIdOf(f)) as number,
    level: sarifLevel(f.severity),
    message: { text: f.detail.trim() !== '' ? `${f.title}: ${f.detail}` : f.title },
    locations: [
      {
        physicalLocation: {
          artifactLocation: { uri: toUri(f.file), uriBaseId: '%SRCROOT%' },
          region: { startLine: Math.max(1, f.lineStart), endLine: Math.max(1, f.lineStart, f.lineEnd) },
        },
      },
    ],
    partialFingerprints: { 'quorum/v1': f.fingerprint },
    properties: {
      score: f.score,
      severity: f.severity,
      agreement: f.agreement,
      panelSize: f.panelSize,
      reviewers: [...f.reviewers],
      category: f.category,
    },
  }));

  const driver: SarifLog['runs'][number]['tool']['driver'] = { name: 'Quorum', version: options.toolVersion, rules };
  if (options.informationUri) driver.informationUri = options.informationUri;
  return {
    $schema: SARIF_SCHEMA_URI,
    version: '2.1.0',
    runs: [
      {
        tool: { driver },
        originalUriBaseIds: { '%SRCROOT%': { description: { text: 'The root of the reviewed repository.' } } },
        results,
      },
    ],
  };
}

import { fingerprint } from './fingerprint.js';
import {
  BLOCKING_SEVERITY,
  DEFAULT_THRESHOLDS,
  type MergedFinding,
  type RawFinding,
  type ReviewVerdict,
  type VerdictThresholds,
} from './types.js';

/** Two findings with the same fingerprint are one issue when their line ranges are this close. */
export const MERGE_LINE_WINDOW = 3;

/** Rounds to 2 decimals; EPSILON keeps 1.005 from rounding down through binary representation. */
export function round2(value: number): number {
  return Math.round((value + Number.EPSILON) * 100) / 100;
}

/**
 * Consensus score: CS = 0.5·R̄ + 0.3·R̄·(k/n) + 0.2·R_max.
 * With severities in [0,10] and k/n in [0,1] the result is in [0,10]; clamping only guards
 * against floating-point drift at the edges.
 */
export function consensusScore(meanSeverity: number, agreementRatio: number, maxSeverity: number): number {
  const cs = 0.5 * meanSeverity + 0.3 * meanSeverity * agreementRatio + 0.2 * maxSeverity;
  return round2(Math.min(10, Math.max(0, cs)));
}

function compareStrings(a: string | undefined, b: string | undefined): number {
  const x = a ?? '';
  const y = b ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A total order on raw findings, so that clustering never depends on the order reviewers answered in. */
function compareRaw(a: RawFinding, b: RawFinding): number {
  return (
    a.lineStart - b.lineStart ||
    a.lineEnd - b.lineEnd ||
    compareStrings(a.reviewer, b.reviewer) ||
    b.severity - a.severity ||
    compareStrings(a.title, b.title) ||
    compareStrings(a.detail, b.detail) ||
    compareStrings(a.suggestion, b.suggestion) ||
    compareStrings(a.rule, b.rule)
  );
}

/**
 * Complete-linkage clustering over sorted findings: a finding joins the current cluster only if
 * it is within MERGE_LINE_WINDOW lines of EVERY member. (Single linkage would chain findings at
 * lines 1, 4, 7, … into one issue spanning any distance.) Because input is sorted by lineStart,
 * the farthest member is the one whose range ends first, so one comparison suffices.
 */
function cluster(sorted: RawFinding[]): RawFinding[][] {
  const clusters: RawFinding[][] = [];
  let current: RawFinding[] = [];
  let minEnd = Number.POSITIVE_INFINITY;
  for (const finding of sorted) {
    if (current.length > 0 && finding.lineStart - minEnd <= MERGE_LINE_WINDOW) {
      current.push(finding);
      minEnd = Math.min(minEnd, finding.lineEnd);
      continue;
    }
    if (current.length > 0) clusters.push(current);
    current = [finding];
    minEnd = finding.lineEnd;
  }
  if (current.length > 0) clusters.push(current);
  return clusters;
}

function mergeCluster(members: RawFinding[], fp: string, panelSize: number): MergedFinding {
  // The most severe report speaks for the cluster; ties go to the first in the total order.
  let representative = members[0] as RawFinding;
  for (const m of members) if (m.severity > representative.severity) representative = m;
  const reviewers = [...new Set(members.map((m) => m.reviewer))].sort();
  const severities = members.map((m) => m.severity);
  const maxSeverity = Math.max(...severities);
  // Rounded far below the score's 2 decimals: a mean over repeated reports must not differ from the
  // mean over one copy by a float rounding that tips round2 the other way.
  const meanSeverity = Math.round((severities.reduce((s, v) => s + v, 0) / severities.length) * 1e9) / 1e9;
  const merged: MergedFinding = {
    fingerprint: fp,
    file: representative.file,
    category: representative.category,
    title: representative.title,
    detail: representative.detail,
    lineStart: Math.min(...members.map((m) => m.lineStart)),
    lineEnd: Math.max(...members.map((m) => m.lineEnd)),
    severity: maxSeverity,
    reviewers,
    agreement: reviewers.length,
    panelSize,
    score: consensusScore(meanSeverity, reviewers.length / panelSize, maxSeverity),
    occurrences: members.length,
  };
  const suggestion = representative.suggestion ?? members.find((m) => m.suggestion !== undefined)?.suggestion;
  if (suggestion !== undefined) merged.suggestion = suggestion;
  const rule = representative.rule ?? members.find((m) => m.rule !== undefined)?.rule;
  if (rule !== undefined) merged.rule = rule;
  return merged;
}

/** Output order: highest score first, then file and line, then fingerprint for a total order. */
export function compareMerged(a: MergedFinding, b: MergedFinding): number {
  return (
    b.score - a.score ||
    b.severity - a.severity ||
    compareStrings(a.file, b.file) ||
    a.lineStart - b.lineStart ||
    a.lineEnd - b.lineEnd ||
    compareStrings(a.fingerprint, b.fingerprint)
  );
}

/**
 * Merges the raw findings of a panel of `panelSize` reviewers. Findings with the same fingerprint
 * whose line ranges are within ±3 lines of each other become one MergedFinding; k counts distinct
 * reviewers, so one reviewer repeating itself does not manufacture agreement.
 *
 * Deterministic and independent of input order. Throws RangeError when the panel size cannot be
 * right (not a positive integer, or fewer than the distinct reviewers present) because k/n > 1
 * would silently inflate every score.
 */
export function mergeFindings(raw: readonly RawFinding[], panelSize: number): MergedFinding[] {
  if (!Number.isInteger(panelSize) || panelSize < 1) {
    throw new RangeError(`panelSize must be a positive integer, got ${panelSize}`);
  }
  const distinctReviewers = new Set(raw.map((f) => f.reviewer)).size;
  if (distinctReviewers > panelSize) {
    throw new RangeError(`${distinctReviewers} distinct reviewers reported findings but panelSize is ${panelSize}`);
  }
  const groups = new Map<string, RawFinding[]>();
  for (const finding of raw) {
    const fp = fingerprint(finding.file, finding.category, finding.title);
    const group = groups.get(fp);
    if (group) group.push(finding);
    else groups.set(fp, [finding]);
  }
  const merged: MergedFinding[] = [];
  for (const [fp, group] of groups) {
    for (const members of cluster([...group].sort(compareRaw))) merged.push(mergeCluster(members, fp, panelSize));
  }
  return merged.sort(compareMerged);
}

/**
 * Review-level consensus score: the same formula over all merged findings, with R̄ the mean of
 * their severities, k/n the mean of their agreement ratios and R_max the highest severity.
 * A review without findings scores 0.
 */
export function reviewScore(merged: readonly MergedFinding[]): number {
  if (merged.length === 0) return 0;
  const meanSeverity = Math.round((merged.reduce((s, f) => s + f.severity, 0) / merged.length) * 1e9) / 1e9;
  const meanAgreement = Math.round((merged.reduce((s, f) => s + Math.min(1, f.agreement / f.panelSize), 0) / merged.length) * 1e9) / 1e9;
  const maxSeverity = Math.max(...merged.map((f) => f.severity));
  return consensusScore(meanSeverity, meanAgreement, maxSeverity);
}

/**
 * request_changes at or above thresholds.requestChanges, or whenever a single finding reaches
 * BLOCKING_SEVERITY (a leaked key must block even when it is the only finding among many trivia
 * that drag the mean down); comment at or above thresholds.comment; pass otherwise.
 */
export function verdict(
  score: number,
  findings: readonly Pick<MergedFinding, 'severity'>[],
  thresholds: VerdictThresholds = DEFAULT_THRESHOLDS,
): ReviewVerdict {
  if (thresholds.comment > thresholds.requestChanges) {
    throw new RangeError('thresholds.comment must not exceed thresholds.requestChanges');
  }
  if (score >= thresholds.requestChanges || findings.some((f) => f.severity >= BLOCKING_SEVERITY)) {
    return 'request_changes';
  }
  if (score >= thresholds.comment) return 'comment';
  return 'pass';
}

import type { MergedFinding, ReviewSummary, ReviewVerdict } from './types.js';

export interface MarkdownReportOptions {
  title: string;
  /** Optional per-finding annotation keyed by fingerprint, e.g. "similar finding detected by alice on 2026-02-21". */
  similar?: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /** ISO timestamp printed under the title; omitted when absent so output stays reproducible. */
  generatedAt?: string;
}

const VERDICT_LABEL: Record<ReviewVerdict, string> = {
  pass: '✅ pass',
  comment: '💬 comment',
  request_changes: '⛔ request changes',
};

/**
 * Reviewer-supplied text (LLM output) is untrusted: escape HTML so it cannot inject markup into
 * rendered reports, and Markdown emphasis/link syntax so it renders as written.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]|#])/g, '\\$1');
}

/**
 * Free text that marks code with backticks (rule details, model explanations): each `span` on one
 * line stays an inline code span — rendered literally, so nothing inside needs escaping and nothing
 * inside can become markup — and the text around it is escaped as above.
 */
export function escapeProse(text: string): string {
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(/`([^`\r\n]+)`/g)) {
    out.push(escapeMarkdown(text.slice(last, m.index)), `\`${m[1]}\``);
    last = m.index + m[0].length;
  }
  out.push(escapeMarkdown(text.slice(last)));
  return out.join('');
}

/** A value (a path) as one inline code span, whatever it contains. */
export function codeSpan(text: string): string {
  const t = text.replace(/\r?\n/g, ' ');
  return t.includes('`') ? `\`\` ${t} \`\`` : `\`${t}\``;
}

/** Table cells are single lines. */
function cell(text: string): string {
  return escapeMarkdown(text).replace(/\r?\n/g, ' ');
}

function lookup(similar: MarkdownReportOptions['similar'], fp: string): string | undefined {
  if (!similar) return undefined;
  if (similar instanceof Map) return similar.get(fp);
  return Object.prototype.hasOwnProperty.call(similar, fp) ? (similar as Record<string, string>)[fp] : undefined;
}

function location(f: MergedFinding): string {
  return f.lineEnd > f.lineStart ? `${f.file}:${f.lineStart}-${f.lineEnd}` : `${f.file}:${f.lineStart}`;
}

/** Highest score first; the same total order as consensus output, restated so reports never depend on input order. */
function sortByScore(findings: readonly MergedFinding[]): MergedFinding[] {
  return [...findings].sort(
    (a, b) =>
      b.score - a.score ||
      b.severity - a.severity ||
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      a.lineStart - b.lineStart ||
      (a.fingerprint < b.fingerprint ? -1 : a.fingerprint > b.fingerprint ? 1 : 0),
  );
}

/** The report people read: summary, coverage, a findings table, then details per finding. */
export function renderMarkdownReport(summary: ReviewSummary, options: MarkdownReportOptions): string {
  const out: string[] = [`# ${cell(options.title)}`, ''];
  if (options.generatedAt) out.push(`_Generated ${cell(options.generatedAt)}_`, '');
  out.push(`**Score:** ${summary.score.toFixed(2)} / 10 · **Verdict:** ${VERDICT_LABEL[summary.verdict]} · **Findings:** ${summary.findings.length}`, '');

  out.push('## Coverage', '');
  const { filesCovered, filesClipped, notes } = summary.coverage;
  for (const n of notes ?? []) out.push(`> ⚠️ ${cell(n)}`, '');
  out.push(`Reviewed ${filesCovered.length} file(s)${filesClipped.length > 0 ? `; ${filesClipped.length} clipped or skipped` : ''}.`, '');
  for (const f of filesCovered) out.push(`- \`${f.replace(/`/g, "'")}\``);
  if (filesCovered.length > 0) out.push('');
  if (filesClipped.length > 0) {
    out.push('Clipped or skipped:', '');
    for (const c of filesClipped) out.push(`- \`${c.file.replace(/`/g, "'")}\`: ${cell(c.reason)}`);
    out.push('');
  }

  out.push('## Findings', '');
  const findings = sortByScore(summary.findings);
  if (findings.length === 0) {
    out.push('No findings.', '');
    return out.join('\n');
  }
  out.push('| # | Score | Severity | Category | Location | Title | Agreement | Rule |', '|---|---|---|---|---|---|---|---|');
  findings.forEach((f, i) => {
    out.push(
      `| ${i + 1} | ${f.score.toFixed(2)} | ${f.severity} | ${f.category} | ${cell(location(f))} | ${cell(f.title)} | ${f.agreement}/${f.panelSize} (${cell(f.reviewers.join(', '))}) | ${f.rule ? `\`${f.rule}\`` : '—'} |`,
    );
  });
  out.push('');
  findings.forEach((f, i) => {
    out.push(`### ${i + 1}. ${cell(f.title)}`, '');
    out.push(`\`${location(f).replace(/`/g, "'")}\` · ${f.category} · severity ${f.severity} · score ${f.score.toFixed(2)} · agreed by ${f.agreement}/${f.panelSize}: ${cell(f.reviewers.join(', '))}${f.rule ? ` · rule \`${f.rule}\`` : ''}`, '');
    if (f.detail.trim() !== '') out.push(escapeProse(f.detail), '');
    if (f.suggestion) out.push(`**Suggestion:** ${escapeProse(f.suggestion)}`, '');
    const similar = lookup(options.similar, f.fingerprint);
    if (similar) out.push(`> 🔁 ${cell(similar)}`, '');
  });
  return out.join('\n');
}

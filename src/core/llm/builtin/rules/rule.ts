import type { Category } from '../../../review/types.js';

/** Static description of one built-in rule; also feeds SARIF `tool.driver.rules`. */
export interface RuleMeta {
  id: string;
  category: Category;
  /** Default severity, 0–10. */
  severity: number;
  title: string;
  suggestion: string;
}

/** One place where a rule fired. */
export interface RuleHit {
  rule: RuleMeta;
  file: string;
  lineStart: number;
  lineEnd: number;
  detail: string;
  /** Overrides rule.severity when the context makes the issue more or less serious. */
  severity?: number;
}

export function hit(rule: RuleMeta, file: string, lineStart: number, lineEnd: number, detail: string, severity?: number): RuleHit {
  const h: RuleHit = { rule, file, lineStart, lineEnd: Math.max(lineStart, lineEnd), detail };
  if (severity !== undefined) h.severity = severity;
  return h;
}

/** Declares a rule table with its ids checked at compile time. */
export function defineRules<K extends string>(rules: Record<K, RuleMeta>): Record<K, RuleMeta> {
  return rules;
}

import type { DiffFile } from '../../../review/diff.js';
import { isTestPath, languageOf, redact, shannonEntropy } from '../source.js';
import { defineRules, hit, type RuleHit, type RuleMeta } from './rule.js';

const ROTATE = 'Remove the secret from the change, rotate it now (it is in history), and load it from the environment or a secret store.';

export const SECRET_RULES = defineRules({
  awsAccessKey: { id: 'secrets/aws-access-key', category: 'security', severity: 9, title: 'Hard-coded AWS access key', suggestion: ROTATE },
  githubToken: { id: 'secrets/github-token', category: 'security', severity: 9, title: 'Hard-coded GitHub token', suggestion: ROTATE },
  slackToken: { id: 'secrets/slack-token', category: 'security', severity: 9, title: 'Hard-coded Slack token', suggestion: ROTATE },
  stripeKey: { id: 'secrets/stripe-live-key', category: 'security', severity: 9, title: 'Hard-coded Stripe live key', suggestion: ROTATE },
  anthropicKey: { id: 'secrets/anthropic-api-key', category: 'security', severity: 9, title: 'Hard-coded Anthropic API key', suggestion: ROTATE },
  openaiKey: { id: 'secrets/openai-api-key', category: 'security', severity: 9, title: 'Hard-coded OpenAI API key', suggestion: ROTATE },
  privateKey: { id: 'secrets/private-key', category: 'security', severity: 9, title: 'Private key committed', suggestion: ROTATE },
  jwt: { id: 'secrets/jwt', category: 'security', severity: 7, title: 'JSON Web Token literal', suggestion: 'Do not commit bearer tokens; mint them at run time (tests: sign with a throwaway key).' },
  highEntropy: {
    id: 'secrets/high-entropy-assignment',
    category: 'security',
    severity: 8,
    title: 'High-entropy secret assigned to a credential variable',
    suggestion: ROTATE,
  },
  hardcodedPassword: {
    id: 'secrets/hardcoded-password',
    category: 'security',
    severity: 7,
    title: 'Hard-coded password',
    suggestion: 'Load the password from the environment or a secret store; if it ever reached a shared branch, change it (it is in history).',
  },
} satisfies Record<string, RuleMeta>);

interface Pattern {
  rule: RuleMeta;
  re: RegExp;
  /** Known documentation placeholders that look real but are not. */
  ignore?: RegExp;
}

const PATTERNS: Pattern[] = [
  { rule: SECRET_RULES.awsAccessKey, re: /\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b/g, ignore: /EXAMPLE$/ },
  { rule: SECRET_RULES.githubToken, re: /\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{50,255})\b/g },
  { rule: SECRET_RULES.slackToken, re: /\bxox[abposr]-[A-Za-z0-9-]{10,250}/g },
  { rule: SECRET_RULES.stripeKey, re: /\b[sr]k_live_[A-Za-z0-9]{20,247}\b/g },
  { rule: SECRET_RULES.anthropicKey, re: /\bsk-ant-[A-Za-z0-9_-]{20,}/g },
  // sk-… (legacy 48 chars) and sk-proj-/sk-svcacct-/sk-admin- keys; sk-ant- is Anthropic's.
  { rule: SECRET_RULES.openaiKey, re: /\bsk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}/g },
  { rule: SECRET_RULES.privateKey, re: /-----BEGIN (?:(?:RSA|EC|DSA|OPENSSH|PGP|ENCRYPTED) )?PRIVATE KEY(?: BLOCK)?-----/g },
  { rule: SECRET_RULES.jwt, re: /\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/g },
];

/**
 * A credential-looking name followed by an assignment (=, :, :=, =>) of a quoted literal, or a
 * bare value in .env / YAML files. The name must END in the credential word (db_password,
 * apiKey, CLIENT_SECRET), so `tokenizer` or `keyboardLayout` do not qualify.
 */
const CREDENTIAL_NAME =
  '([A-Za-z0-9_.-]*?(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|signing[_-]?key|client[_-]?secret|auth[_-]?key|credentials?))["\']?\\s*(?::=|=>|=|:)\\s*';
const QUOTED_ASSIGNMENT = new RegExp(`${CREDENTIAL_NAME}["'\`]([^"'\`\\s]{12,})["'\`]`, 'i');
/** Unquoted values only in .env / YAML / shell, where they are literals rather than expressions. */
const BARE_ASSIGNMENT = new RegExp(`^\\s*(?:export\\s+)?${CREDENTIAL_NAME}([^\\s"'\`#]{16,})\\s*$`, 'i');

/**
 * A password-named variable (db_password, adminPwd, PASSPHRASE) assigned a quoted literal of 6+
 * characters: guessable passwords are the worst kind, and their low entropy keeps them below the
 * high-entropy rule.
 */
const PASSWORD_ASSIGNMENT = /([A-Za-z0-9_.-]*?(?:pass(?:word|wd|phrase)|pwd))["']?\s*(?::=|=>|=|:)\s*["'`]([^"'`\s]{6,})["'`]/i;
const PASSWORD_NAME = /(?:pass(?:word|wd|phrase)|pwd)$/i;

/** Values that are obviously placeholders, references or code rather than literals. */
const PLACEHOLDER = /\$\{|^(?:\$[A-Z_]|<|%|\{\{|process\.env|os\.environ|env\(|getenv|https?:|\.{0,2}\/)|example|changeme|placeholder|your[_-]|dummy|redacted|xxxx|\*\*\*\*|^[a-z]+(?:[._][a-z]+)+$/i;

/** Bits per character above which a 12+ character value is unlikely to be a word or an identifier. */
export const ENTROPY_THRESHOLD = 3.5;

function detectProviderSecrets(file: DiffFile): { hits: RuleHit[]; lines: Set<number> } {
  const hits: RuleHit[] = [];
  const lines = new Set<number>();
  for (const { line, text } of file.added) {
    for (const p of PATTERNS) {
      for (const m of text.matchAll(p.re)) {
        if (p.ignore?.test(m[0])) continue;
        hits.push(hit(p.rule, file.path, line, line, `${p.rule.title}: \`${redact(m[0])}\`.`));
        lines.add(line);
      }
    }
  }
  return { hits, lines };
}

function detectHighEntropy(file: DiffFile, skipLines: Set<number>): RuleHit[] {
  // Tests legitimately hold fake credentials; provider-format keys are still caught above.
  if (isTestPath(file.path) || languageOf(file.path) === 'docs') return [];
  const lang = languageOf(file.path);
  const bareAllowed = lang === 'config' || lang === 'shell';
  const hits: RuleHit[] = [];
  for (const { line, text } of file.added) {
    if (skipLines.has(line)) continue;
    const m = QUOTED_ASSIGNMENT.exec(text) ?? (bareAllowed ? BARE_ASSIGNMENT.exec(text) : null);
    const found = m ?? PASSWORD_ASSIGNMENT.exec(text);
    if (!found) continue;
    const name = found[1] ?? '';
    const value = found[2] ?? '';
    if (PLACEHOLDER.test(value) || /^(.)\1+$/.test(value) || value.toLowerCase() === name.toLowerCase()) continue;
    const entropy = shannonEntropy(value);
    if (entropy < ENTROPY_THRESHOLD) {
      // Too guessable for the entropy rule, and still a hard-coded password when named as one.
      if (PASSWORD_NAME.test(name)) hits.push(hit(SECRET_RULES.hardcodedPassword, file.path, line, line, `\`${name}\` is assigned a literal password: \`${redact(value)}\`.`));
      continue;
    }
    hits.push(
      hit(
        SECRET_RULES.highEntropy,
        file.path,
        line,
        line,
        `\`${name}\` is assigned a literal that looks random (${entropy.toFixed(2)} bits/char, threshold ${ENTROPY_THRESHOLD}): \`${redact(value)}\`.`,
      ),
    );
  }
  return hits;
}

/** Secrets are checked in every text file, generated or not, tests included. */
export function detectSecrets(file: DiffFile): RuleHit[] {
  if (file.binary || file.status === 'deleted') return [];
  const provider = detectProviderSecrets(file);
  return [...provider.hits, ...detectHighEntropy(file, provider.lines)];
}

/**
 * The "model" behind the stand-in servers: a deterministic reviewer that reads the diff out of
 * Quorum's real prompt and reports SQL built by string concatenation or template interpolation
 * on added lines. Enough for end-to-end tests to see a real finding travel from a provider
 * through consensus into a report, with no network and no randomness.
 */

export interface ScriptedFinding {
  file: string;
  lineStart: number;
  lineEnd: number;
  category: 'security';
  severity: number;
  title: string;
  detail: string;
  suggestion: string;
}

/** The text between <diff> and </diff> in a prompt, or the whole text if there are no tags. */
export function diffFromPrompt(prompt: string): string {
  const m = /<diff>\n([\s\S]*?)\n?<\/diff>/.exec(prompt);
  return m?.[1] ?? prompt;
}

const SQL = /\b(SELECT|INSERT|UPDATE|DELETE)\b/i;
const BUILT = /["'`]\s*\+|\+\s*["'`a-z_]|\$\{/i;

export function scriptedFindings(prompt: string): ScriptedFinding[] {
  const findings: ScriptedFinding[] = [];
  let file: string | undefined;
  let newLine = 0;
  for (const line of diffFromPrompt(prompt).split('\n')) {
    if (line.startsWith('+++ ')) {
      const path = line.slice(4).trim();
      file = path === '/dev/null' ? undefined : path.replace(/^b\//, '');
      continue;
    }
    if (line.startsWith('--- ') || line.startsWith('diff --git')) continue;
    const hunk = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
    if (hunk) {
      newLine = Number(hunk[1]);
      continue;
    }
    if (line.startsWith('+')) {
      const code = line.slice(1);
      if (file && SQL.test(code) && BUILT.test(code)) {
        findings.push({
          file,
          lineStart: newLine,
          lineEnd: newLine,
          category: 'security',
          severity: 9,
          title: 'SQL injection via string concatenation',
          detail: `The query on line ${newLine} is built from strings; input reaching it can change the SQL.`,
          suggestion: 'Use a parameterized query (placeholders and a values array).',
        });
      }
      newLine += 1;
    } else if (line.startsWith(' ')) {
      newLine += 1;
    }
  }
  return findings;
}

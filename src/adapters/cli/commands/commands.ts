import type { Command } from 'commander';
import { printJson } from '../output.js';

/** Every command path with its description, e.g. for shell completion or a coverage check. */
export function registerCommandList(program: Command): void {
  program
    .command('commands')
    .description('list every command (with --json: path and description)')
    .action((_o, cmd: Command) => {
      const out: Array<{ command: string; description: string }> = [];
      const walk = (c: Command, prefix: string[]) => {
        for (const sub of c.commands) {
          const path = [...prefix, sub.name()];
          out.push({ command: path.join(' '), description: sub.description() });
          walk(sub, path);
        }
      };
      walk(program, []);
      if (cmd.optsWithGlobals<{ json?: boolean }>().json) printJson(out);
      else process.stdout.write(out.map((c) => `${c.command.padEnd(28)} ${c.description}`).join('\n') + '\n');
    });
}

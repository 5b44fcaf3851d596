import { describe, expect, it } from 'vitest';
import { GitError, isLockContention } from '../../src/core/git/git-exec.js';

const failed = (stderr: string) => new GitError(`git failed: ${stderr}`, ['fetch'], 128, stderr);

/**
 * What concurrent git processes on one mirror say when they meet, as git prints it (the messages
 * below were seen in runs of 100 concurrent reviews of one project): retried, not failed.
 */
describe('isLockContention', () => {
  it('retries what another git holds or is midway through', () => {
    for (const stderr of [
      "fatal: Unable to create '/d/repos/o/p.git/packed-refs.lock': File exists.",
      "error: cannot lock ref 'refs/heads/main': is at 1a2b3c but expected 4d5e6f",
      'fatal: failed to read /d/repos/o/p.git/worktrees/t-1/commondir: Success',
      'fatal: bad object worktrees/t-1/HEAD',
      // A worktree removed (git worktree remove, or the sweeper) while a fetch listed the worktrees.
      "fatal: Invalid path '/d/repos/o/p.git/worktrees/load-a4c7deb5-667c-473a-a4ce-4ddf3098dd65': No such file or directory",
    ]) {
      expect(isLockContention(failed(stderr)), stderr).toBe(true);
    }
  });

  it('does not retry real failures', () => {
    for (const stderr of [
      "fatal: repository '/nowhere' does not exist",
      "fatal: Invalid path '/d/repos/o/p.git/objects': No such file or directory",
      "fatal: couldn't find remote ref refs/heads/nope",
    ]) {
      expect(isLockContention(failed(stderr)), stderr).toBe(false);
    }
    expect(isLockContention(new Error('Unable to create x.lock: File exists'))).toBe(false);
  });
});

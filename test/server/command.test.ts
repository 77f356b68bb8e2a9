import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommandTimeoutError, ProcessCommandRunner } from '../../server/jobs/command.js';

// The real CommandRunner that every scheduler command goes through, on real processes.

describe('ProcessCommandRunner', () => {
  const runner = new ProcessCommandRunner();

  it('returns stdout, stderr and the exit status; a non-zero exit is a result, not an error', async () => {
    assert.deepEqual(await runner.run('sh', ['-c', 'echo out; echo err >&2; exit 4']), {
      stdout: 'out\n',
      stderr: 'err\n',
      code: 4
    });
  });

  it('passes arguments without a shell: globs, quotes and semicolons stay literal', async () => {
    const { stdout } = await runner.run('printf', ['%s|', '123[].server', "a'b", 'x; rm -rf /']);
    assert.equal(stdout, "123[].server|a'b|x; rm -rf /|");
  });

  it('feeds input, sets the environment and the directory', async () => {
    assert.equal((await runner.run('cat', [], { input: 'piped' })).stdout, 'piped');
    const env = await runner.run('sh', ['-c', 'echo "$NEXUS_X"; pwd'], {
      env: { PATH: process.env.PATH, NEXUS_X: 'set' },
      cwd: '/tmp'
    });
    assert.equal(env.stdout, 'set\n/tmp\n');
  });

  it('kills a command that outlives its timeout and says so', async () => {
    await assert.rejects(runner.run('sleep', ['30'], { timeoutMs: 200 }), (err: unknown) => {
      assert.ok(err instanceof CommandTimeoutError);
      assert.match(err.message, /sleep did not answer/);
      return true;
    });
  });

  it('reports a missing command clearly, and a command killed by a signal as 128 + signal', async () => {
    await assert.rejects(runner.run('no-such-sbatch', []), /cannot run no-such-sbatch/);
    assert.equal((await runner.run('sh', ['-c', 'kill -TERM $$'])).code, 128 + 15);
  });
});

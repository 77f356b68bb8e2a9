import { execFile } from 'node:child_process';
import os from 'node:os';
import type { CommandResult, CommandRunner } from './adapter.js';

// The real CommandRunner: scheduler commands run without a shell (arguments are never parsed by
// one), with a timeout, and a non-zero exit is a result, not an exception — adapters classify it.

const DEFAULT_TIMEOUT_MS = 60_000;
// squeue listing every task of a busy user can be large; never truncate it silently.
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

/** The command did not finish in time; adapters treat it as a transient failure. */
export class CommandTimeoutError extends Error {
  constructor(command: string, timeoutMs: number) {
    super(`${command} did not answer within ${Math.round(timeoutMs / 1000)} s`);
    this.name = 'CommandTimeoutError';
  }
}

export class ProcessCommandRunner implements CommandRunner {
  constructor(private readonly defaultTimeoutMs = DEFAULT_TIMEOUT_MS) {}

  run(
    command: string,
    args: string[],
    options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}
  ): Promise<CommandResult> {
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    return new Promise((resolve, reject) => {
      const child = execFile(
        command,
        args,
        {
          env: options.env ?? process.env,
          cwd: options.cwd,
          timeout: timeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer: MAX_OUTPUT_BYTES,
          encoding: 'utf8'
        },
        (error, stdout, stderr) => {
          if (error === null) {
            resolve({ stdout, stderr, code: 0 });
          } else if (error.killed && error.signal === 'SIGKILL') {
            reject(new CommandTimeoutError(command, timeoutMs));
          } else if (typeof error.code === 'number') {
            resolve({ stdout, stderr, code: error.code });
          } else if (error.signal) {
            // killed by someone else: report it the way a shell would
            resolve({ stdout, stderr, code: 128 + (os.constants.signals[error.signal] ?? 0) });
          } else {
            // spawn failures (ENOENT: the scheduler's commands are not installed here)
            reject(new Error(`cannot run ${command}: ${error.message}`));
          }
        }
      );
      if (options.input !== undefined) {
        child.stdin?.end(options.input);
      } else {
        child.stdin?.end();
      }
    });
  }
}

import fs from 'node:fs';
import path from 'node:path';
import type { CommandResult, CommandRunner } from '../../server/jobs/adapter.js';

// A CommandRunner that answers with recorded scheduler output (PBS cannot run here) and keeps
// every call, so tests can check the exact command lines and how many calls a poll makes.

export const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures');

export function fixture(...parts: string[]): string {
  return fs.readFileSync(path.join(FIXTURES, ...parts), 'utf8');
}

export interface Recorded {
  stdout?: string;
  stderr?: string;
  code?: number;
  /** thrown instead of answering, e.g. a CommandTimeoutError */
  error?: Error;
}

export class RecordedRunner implements CommandRunner {
  readonly calls: { command: string; args: string[] }[] = [];
  private readonly answers = new Map<string, Recorded[]>();

  /** Queue an answer for the next call of `command` (answers are consumed in order). */
  on(command: string, answer: Recorded): this {
    const queue = this.answers.get(command) ?? [];
    queue.push(answer);
    this.answers.set(command, queue);
    return this;
  }

  async run(command: string, args: string[]): Promise<CommandResult> {
    this.calls.push({ command, args });
    const answer = this.answers.get(command)?.shift();
    if (answer === undefined) {
      throw new Error(`unexpected command: ${command} ${args.join(' ')}`);
    }
    if (answer.error) {
      throw answer.error;
    }
    return { stdout: answer.stdout ?? '', stderr: answer.stderr ?? '', code: answer.code ?? 0 };
  }
}

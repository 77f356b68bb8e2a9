import fs from 'node:fs';
import path from 'node:path';
import type { PipelineDefinition, RunView } from '../../src/protocol/pipelines.js';
import { PipelineDefinitions } from '../../server/pipelines/definitions.js';
import { PipelineStore } from '../../server/pipelines/pipeline-store.js';
import { PipelineRunner } from '../../server/pipelines/runner.js';
import { FolderWatcher } from '../../server/pipelines/watcher.js';
import { REPO, startJobStack, tempDir, type JobStack } from './jobs-helpers.js';

// The pipeline runner on top of the job layer's in-process stack (real SQLite, real processes,
// local executor), plus experiment folders and a user pipeline made of a small test program.

export const TEST_STEP = path.join(REPO, 'test', 'fixtures', 'pipelines', 'test-step.mjs');

export const LOCAL_SITE = {
  name: 'local',
  scheduler: 'local',
  pollIntervalSeconds: 0.2,
  concurrency: 4
};

/** first → part (array of `tasks`) → merge: the shape of prepare → transform → combine. */
export function testPipeline(name = 'test', tasks = 2): PipelineDefinition {
  const step = (action: string) => [process.execPath, TEST_STEP, action, '--scan', '{scan}'];
  return {
    name,
    version: 1,
    steps: [
      { id: 'first', label: 'First', command: step('first'), params: { value: 'x' } },
      {
        id: 'part',
        label: 'Part',
        command: [...step('part'), '--parts', '{tasks}'],
        after: ['first'],
        array: { tasks }
      },
      {
        id: 'merge',
        label: 'Merge',
        command: [...step('merge'), '--parts', '{tasks}'],
        after: ['part']
      }
    ]
  };
}

export interface PipelineStack {
  jobs: JobStack;
  store: PipelineStore;
  definitions: PipelineDefinitions;
  runner: PipelineRunner;
  watcher: FolderWatcher;
  root: string;
  close(): Promise<void>;
}

export interface PipelineStackOptions {
  root?: string;
  /** as in the sites file; default: one local site */
  sites?: Record<string, unknown>[];
}

export async function startPipelineStack(
  options: PipelineStackOptions = {}
): Promise<PipelineStack> {
  const root = options.root ?? tempDir('nexus-pipe-root-');
  const jobs = await startJobStack({ sites: options.sites ?? [LOCAL_SITE] });
  const store = new PipelineStore({ file: path.join(jobs.dir, 'state.sqlite') });
  const definitions = new PipelineDefinitions(path.join(jobs.dir, 'pipelines'));
  const runner = new PipelineRunner({
    store,
    manager: jobs.manager,
    sites: jobs.sites,
    definitions,
    root,
    bundleDir: path.join(REPO, 'jupyterlab_nexus', 'server')
  });
  runner.start();
  const watcher = new FolderWatcher({ store, runner, definitions, root, settleMs: 300 });
  await watcher.start();
  return {
    jobs,
    store,
    definitions,
    runner,
    watcher,
    root,
    close: async () => {
      await watcher.close();
      runner.close();
      await jobs.close();
      store.close();
    }
  };
}

/** Scan folders `names` (scan.json, input.txt) inside `<root>/<experiment>`. */
export function makeScans(root: string, experiment: string, names: string[], input = 'in'): void {
  for (const name of names) {
    const dir = path.join(root, experiment, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'scan.json'), '{}');
    if (input !== '') {
      fs.writeFileSync(path.join(dir, 'input.txt'), input);
    }
  }
}

/** Resolves with the run once `done(run)` holds, polling every 100 ms. */
export async function waitForRun(
  get: () => RunView | Promise<RunView>,
  done: (run: RunView) => boolean,
  timeoutMs = 60_000
): Promise<RunView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await get();
    if (done(run)) {
      return run;
    }
    if (Date.now() > deadline) {
      throw new Error(`run ${run.id} still ${run.state}: ${JSON.stringify(run.events)}`);
    }
    await new Promise(resolve => setTimeout(resolve, 100));
  }
}

export const runEnded = (run: RunView): boolean =>
  ['done', 'failed', 'canceled'].includes(run.state);

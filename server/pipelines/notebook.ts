import fs from 'node:fs';
import path from 'node:path';
import pkg from '../../package.json' with { type: 'json' };
import type {
  NotebookRequest,
  NotebookResult,
  PipelineDefinition,
  RunEvent,
  StepDefinition
} from '../../src/protocol/pipelines.js';
import { stepOrder } from './definitions.js';
import { resolveExperiment } from './experiments.js';
import type { PipelineStore, RunCell, RunRecord } from './pipeline-store.js';
import { BUNDLED_PROGRAMS, RunNotFoundError, RunRequestError, tasksOf } from './runner.js';

// "Export as notebook": an nbformat 4.5 notebook that reproduces a run step by step in a plain
// Python kernel. Each step is one code cell calling the same CLI the job ran, through
// subprocess; the bundled programs are found in the installed jupyterlab_nexus package, so the
// notebook works wherever the package is installed, not only next to this server.

interface NotebookSource {
  definition: PipelineDefinition;
  experiment: string;
  scans: string[];
  steps: string[];
  cells: RunCell[];
  runs: RunRecord[];
  events: RunEvent[];
}

export interface NotebookContext {
  store: PipelineStore;
  root: string;
}

interface NotebookCell {
  cell_type: 'markdown' | 'code';
  id: string;
  metadata: Record<string, unknown>;
  source: string;
  outputs?: unknown[];
  execution_count?: null;
}

const py = (value: unknown): string => JSON.stringify(value);

function sourceOf(ctx: NotebookContext, request: NotebookRequest): NotebookSource {
  const { store } = ctx;
  if ('runId' in request) {
    const run = store.getRun(request.runId);
    if (!run) {
      throw new RunNotFoundError(`no pipeline run ${request.runId}`);
    }
    return {
      definition: run.definition,
      experiment: run.experiment,
      scans: run.scans,
      steps: run.steps,
      cells: store.cellsOfRun(run.id),
      runs: [run],
      events: store.events(run.id)
    };
  }
  const cells = store
    .latestCells(resolveExperiment(ctx.root, request.experiment).relative)
    .filter(c => c.scan === request.scan);
  if (cells.length === 0) {
    throw new RunRequestError(`scan ${request.scan} of ${request.experiment} has never been run`);
  }
  const runs = [...new Set(cells.map(c => c.runId))].map(id => store.getRun(id)!);
  const definition = runs[runs.length - 1].definition;
  return {
    definition,
    experiment: runs[0].experiment,
    scans: [request.scan],
    steps: stepOrder(definition.steps)
      .map(s => s.id)
      .filter(id => cells.some(c => c.step === id)),
    cells,
    runs,
    events: runs.flatMap(r => store.events(r.id)).filter(e => e.scan === request.scan)
  };
}

function markdownTable(header: string[], rows: string[][]): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [header, header.map(() => '---'), ...rows]
    .map(row => `| ${row.map(escape).join(' | ')} |`)
    .join('\n');
}

function provenance(source: NotebookSource, experimentDir: string): string {
  const lines = [
    `# Pipeline \`${source.definition.name}\` on \`${source.experiment || '.'}\``,
    '',
    ...(source.definition.description ? [source.definition.description, ''] : []),
    `- experiment folder: \`${experimentDir}\``,
    `- scans: ${source.scans.map(s => `\`${s}\``).join(', ')}`,
    `- exported: ${new Date().toISOString()} by jupyterlab-nexus ${pkg.version} (server on Node ${process.version})`,
    ...source.runs.map(
      run =>
        `- run \`${run.id}\`: ${run.state}, site \`${run.site}\`${run.queue ? ` queue \`${run.queue}\`` : ''}, started ${run.created}${run.finished ? `, finished ${run.finished}` : ''}`
    ),
    '',
    '## Jobs',
    '',
    markdownTable(
      ['scan', 'step', 'state', 'job id', 'duration (s)', 'updated'],
      source.cells.map(cell => {
        const ended = source.events.filter(
          e => e.scan === cell.scan && e.step === cell.step && e.durationMs !== undefined
        );
        const duration = ended[ended.length - 1]?.durationMs;
        return [
          cell.scan,
          cell.step,
          cell.state,
          cell.jobId ?? '',
          duration === undefined ? '' : (duration / 1000).toFixed(1),
          cell.updated
        ];
      })
    ),
    '',
    'Each output file written by a built-in step also carries an NXprocess (program, version, parameters, inputs, date).'
  ];
  return lines.join('\n');
}

function parameters(steps: StepDefinition[], definition: PipelineDefinition): string {
  return [
    '## Steps and parameters',
    '',
    markdownTable(
      ['step', 'command', 'parameters', 'after', 'array tasks'],
      steps.map(step => [
        `${step.label} (\`${step.id}\`)`,
        `\`${step.command.join(' ')}\``,
        Object.entries(step.params ?? {})
          .map(([k, v]) => `${k} = ${String(v)}`)
          .join(', '),
        (step.after ?? []).join(', '),
        step.array ? String(tasksOf(definition, step)) : ''
      ])
    )
  ].join('\n');
}

const SETUP = (experimentDir: string, scans: string[]) => `import os
import shutil
import subprocess
from pathlib import Path

import jupyterlab_nexus

# The bundled step programs ship inside the installed package; node is found as the server finds it.
BUNDLE = Path(jupyterlab_nexus.__file__).resolve().parent / "server"
NODE = os.environ.get("NEXUS_NODE") or shutil.which("node")
BUNDLED = ${py(BUNDLED_PROGRAMS)}
EXPERIMENT = Path(${py(experimentDir)})
SCANS = ${py(scans)}


def run_step(command, scan, task=None):
    """Runs one step on one scan as the job layer does: no shell, in the scan folder,
    array tasks with NEXUS_TASK_INDEX. Template variables are filled in here."""
    values = {"{scan}": str(EXPERIMENT / scan), "{scanName}": scan, "{experiment}": str(EXPERIMENT)}
    words = []
    for word in command:
        for key, value in values.items():
            word = word.replace(key, value)
        words.append(word)
    if words[0] in BUNDLED:
        words = [NODE, str(BUNDLE / (words[0] + ".mjs"))] + words[1:]
    env = dict(os.environ)
    if task is not None:
        env["NEXUS_TASK_INDEX"] = str(task)
    result = subprocess.run(words, cwd=EXPERIMENT / scan, env=env, capture_output=True, text=True)
    print(result.stdout[-2000:], end="")
    print(result.stderr[-2000:], end="")
    if result.returncode != 0:
        raise RuntimeError(f"{words[0]} exited {result.returncode} on {scan}")`;

function stepCode(step: StepDefinition, definition: PipelineDefinition): string {
  const tasks = tasksOf(definition, step);
  const command = [
    ...step.command.map(word => word.replace(/\{tasks\}/g, String(tasks))),
    ...Object.entries(step.params ?? {}).flatMap(([k, v]) => [`--${k}`, String(v)])
  ];
  const lines = [`# ${step.label} (${step.id})`, `command = ${py(command)}`, 'for scan in SCANS:'];
  if (step.array) {
    lines.push(`    for task in range(${tasks}):`, '        run_step(command, scan, task)');
  } else {
    lines.push('    run_step(command, scan)');
  }
  return lines.join('\n');
}

const SHOW_RESULT = `import h5py
import numpy as np

# The merged volume: follow the NeXus default chain to the plotted signal.
with h5py.File(EXPERIMENT / SCANS[0] / "nexus" / "transform.nxs", "r") as f:
    group = f
    while "default" in group.attrs:
        group = group[group.attrs["default"]]
    signal = group[group.attrs["signal"]]
    volume = signal[...]
    print(signal.name, volume.shape, volume.dtype, "max", np.nanmax(volume))
    middle = volume[volume.shape[0] // 2]
    print("middle slice: shape", middle.shape, "sum", np.nansum(middle))
    try:
        import matplotlib.pyplot as plt

        plt.imshow(np.log1p(np.nan_to_num(np.clip(middle, 0, None))), origin="lower")
        plt.colorbar()
        plt.show()
    except ImportError:
        print("(install matplotlib to see the slice)")`;

export function buildNotebook(source: NotebookSource, experimentDir: string): unknown {
  const steps = stepOrder(source.definition.steps).filter(s => source.steps.includes(s.id));
  let counter = 0;
  const cell = (cell_type: 'markdown' | 'code', text: string): NotebookCell => ({
    cell_type,
    id: `cell-${++counter}`,
    metadata: {},
    source: text,
    ...(cell_type === 'code' ? { outputs: [], execution_count: null } : {})
  });
  const merges = steps.some(s => s.command[0] === 'nexus-reduce' && s.command[1] === 'combine');
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
      language_info: { name: 'python' },
      jupyterlab_nexus: {
        version: pkg.version,
        pipeline: source.definition,
        runs: source.runs.map(r => r.id)
      }
    },
    cells: [
      cell('markdown', provenance(source, experimentDir)),
      cell('markdown', parameters(steps, source.definition)),
      cell('code', SETUP(experimentDir, source.scans)),
      ...steps.flatMap(step => [
        cell('markdown', `### ${step.label}`),
        cell('code', stepCode(step, source.definition))
      ]),
      ...(merges ? [cell('markdown', '## Result'), cell('code', SHOW_RESULT)] : [])
    ]
  };
}

/** Writes the notebook into the experiment folder; returns its path relative to the root. */
export function writeNotebook(ctx: NotebookContext, request: NotebookRequest): NotebookResult {
  const source = sourceOf(ctx, request);
  const experiment = resolveExperiment(ctx.root, source.experiment);
  const base =
    'runId' in request
      ? `${source.definition.name}-run-${request.runId.slice(0, 8)}`
      : `${source.definition.name}-${request.scan}`;
  const file = path.join(experiment.dir, `${base}.ipynb`);
  fs.writeFileSync(file, JSON.stringify(buildNotebook(source, experiment.dir), null, 1) + '\n');
  return {
    path: [experiment.relative, path.basename(file)].filter(p => p !== '').join('/')
  };
}

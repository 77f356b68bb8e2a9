import { Ajv } from 'ajv';
import fs from 'node:fs';
import path from 'node:path';
import type {
  PipelineDefinition,
  PipelineSummary,
  StepDefinition
} from '../../src/protocol/pipelines.js';
import pipelineSchema from '../../schema/pipeline.schema.json' with { type: 'json' };
import nxrefine from './nxrefine.pipeline.json' with { type: 'json' };

// Pipeline definitions: the built-in ones ship with the server; user definitions live as JSON
// files in `<state dir>/pipelines/`. Saving a definition under a built-in name overrides it, so
// users reorder, disable, re-parameterise or extend the shipped pipeline without a code change.

/** The definition is invalid; the message says where. */
export class DefinitionError extends Error {}
export class DefinitionNotFoundError extends Error {}

export const DEFAULT_PIPELINE = 'nxrefine';

const ajv = new Ajv({ allErrors: true, allowUnionTypes: true });
const validateSchema = ajv.compile<PipelineDefinition>(pipelineSchema);

/** Schema, then what a schema cannot say: unique ids, known `after` steps, no cycles. */
export function validateDefinition(value: unknown): PipelineDefinition {
  if (!validateSchema(value)) {
    throw new DefinitionError(
      `invalid pipeline definition: ${ajv.errorsText(validateSchema.errors, { dataVar: 'pipeline' })}`
    );
  }
  const ids = new Set<string>();
  for (const step of value.steps) {
    if (ids.has(step.id)) {
      throw new DefinitionError(`invalid pipeline definition: step id "${step.id}" is used twice`);
    }
    ids.add(step.id);
  }
  for (const step of value.steps) {
    for (const dep of step.after ?? []) {
      if (!ids.has(dep)) {
        throw new DefinitionError(
          `invalid pipeline definition: step "${step.id}" runs after unknown step "${dep}"`
        );
      }
    }
  }
  stepOrder(value.steps);
  return value;
}

/** Steps sorted so that each comes after the steps it depends on (stable otherwise). */
export function stepOrder(steps: StepDefinition[]): StepDefinition[] {
  const byId = new Map(steps.map(s => [s.id, s]));
  const ordered: StepDefinition[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (step: StepDefinition, trail: string[]): void => {
    if (state.get(step.id) === 'done') {
      return;
    }
    if (state.get(step.id) === 'visiting') {
      throw new DefinitionError(
        `invalid pipeline definition: steps depend on each other in a cycle: ${[...trail, step.id].join(' → ')}`
      );
    }
    state.set(step.id, 'visiting');
    for (const dep of step.after ?? []) {
      visit(byId.get(dep)!, [...trail, step.id]);
    }
    state.set(step.id, 'done');
    ordered.push(step);
  };
  for (const step of steps) {
    visit(step, []);
  }
  return ordered;
}

export const isEnabled = (step: StepDefinition): boolean => step.enabled !== false;

const BUILTIN: PipelineDefinition[] = [validateDefinition(nxrefine)];

export class PipelineDefinitions {
  constructor(private readonly dir: string) {}

  list(): PipelineSummary[] {
    const user = this.userNames();
    const builtin = BUILTIN.map(d => ({
      name: d.name,
      builtin: true,
      overridden: user.includes(d.name)
    }));
    const own = user
      .filter(name => !BUILTIN.some(d => d.name === name))
      .map(name => ({ name, builtin: false, overridden: false }));
    return [...builtin, ...own];
  }

  get(name: string): PipelineDefinition {
    const file = this.fileOf(name);
    if (file && fs.existsSync(file)) {
      try {
        return validateDefinition(JSON.parse(fs.readFileSync(file, 'utf8')));
      } catch (err) {
        throw new DefinitionError(
          `stored pipeline ${name} (${file}) is unreadable: ${err instanceof Error ? err.message : String(err)}`
        );
      }
    }
    const builtin = BUILTIN.find(d => d.name === name);
    if (!builtin) {
      throw new DefinitionNotFoundError(`no pipeline definition named ${name}`);
    }
    return structuredClone(builtin);
  }

  /** Validates and stores a user definition under `name` (the definition's own name must match). */
  put(name: string, value: unknown): PipelineDefinition {
    const definition = validateDefinition(value);
    if (definition.name !== name) {
      throw new DefinitionError(
        `the definition is named ${definition.name} but is being saved as ${name}`
      );
    }
    const file = this.fileOf(name)!;
    fs.mkdirSync(this.dir, { recursive: true });
    // Written aside then renamed: a crash never leaves half a definition.
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(definition, null, 2) + '\n');
    fs.renameSync(`${file}.tmp`, file);
    return definition;
  }

  private fileOf(name: string): string | undefined {
    return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)
      ? path.join(this.dir, `${name}.json`)
      : undefined;
  }

  private userNames(): string[] {
    if (!fs.existsSync(this.dir)) {
      return [];
    }
    return fs
      .readdirSync(this.dir)
      .filter(f => f.endsWith('.json'))
      .map(f => f.slice(0, -'.json'.length))
      .sort();
  }
}

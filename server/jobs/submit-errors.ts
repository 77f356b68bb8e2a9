import type { SubmitErrorClass } from './adapter.js';

// Classification of a refused submission from the scheduler's own words (scheduler reference §7).
// Substring matches, case-insensitive. Only the three Slurm "target" messages were reproduced on a
// real Slurm; the rest is the schedulers' usual wording. An unknown message is 'target' (do not
// retry here, redirect): retrying blind could queue the same job twice.

type Rule = [SubmitErrorClass, string];

const SLURM_RULES: Rule[] = [
  ['transient', 'unable to contact slurm controller'],
  ['transient', 'socket timed out'],
  ['transient', 'temporarily unable to accept job'],
  ['transient', 'slurm_persist_conn_open'],
  ['transient', 'connection refused'],
  ['transient', 'communication connection failure'],
  ['capacity', 'job violates accounting/qos policy'],
  ['capacity', 'qosmaxsubmitjob'],
  ['capacity', 'job submit limit'],
  ['target', 'invalid partition'],
  ['target', 'invalid qos'],
  ['target', 'invalid account'],
  ['target', 'requested time limit is invalid'],
  ['target', 'requested node configuration is not available'],
  ['target', 'access/permission denied'],
  ['spec', 'unable to open file'],
  ['spec', 'this does not look like a batch script'],
  ['spec', 'invalid directive'],
  ['spec', 'invalid job array specification'],
  ['spec', 'invalid dependency']
];

const PBS_RULES: Rule[] = [
  ['transient', 'cannot connect to server'],
  ['transient', 'connection refused'],
  ['transient', 'server is busy'],
  ['transient', 'request timed out'],
  ['capacity', 'would exceed'],
  ['capacity', 'maximum number of jobs'],
  ['capacity', 'max_queued'],
  ['target', 'unknown queue'],
  ['target', 'unauthorized request'],
  ['target', 'job exceeds queue resource limits'],
  ['target', 'queue is not enabled'],
  ['target', 'not allowed'],
  ['spec', 'illegal attribute or resource value'],
  ['spec', 'unknown resource'],
  ['spec', 'script file'],
  ['spec', 'invalid option']
];

export function classifySubmitFailure(
  scheduler: 'slurm' | 'pbs',
  message: string
): SubmitErrorClass {
  const text = message.toLowerCase();
  const rules = scheduler === 'slurm' ? SLURM_RULES : PBS_RULES;
  return rules.find(([, needle]) => text.includes(needle))?.[0] ?? 'target';
}

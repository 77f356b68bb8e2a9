// What keeps the companion server alive, or makes it say why it is leaving. jupyter-server-proxy
// (simpervisor) gives the server Jupyter's own stdio and restarts it on a non-zero exit, so a
// death without a line on stderr looks like "connection refused" and nothing else.

function describe(reason: unknown): string {
  return reason instanceof Error ? (reason.stack ?? reason.message) : String(reason);
}

/** One line (plus a stack) on stderr, never throwing: stderr may be a pipe nobody reads any more. */
export function logToStderr(message: string): void {
  try {
    process.stderr.write(`nexus-server: ${message}\n`);
  } catch {
    // Nowhere left to report to.
  }
}

/**
 * - A stray rejected promise is logged and the server keeps serving: every request is awaited
 *   inside the router's try/catch, so such a promise belongs to a side task (cache fill, file
 *   watch, scheduler poll) whose failure leaves no shared state half-updated; job and pipeline
 *   state is written synchronously to SQLite, in transactions.
 * - An uncaught exception means a callback was cut short at an unknown point, so carrying on is
 *   not safe (Node's own advice): it is logged with its stack, then `shutdown(1)` closes the stores
 *   in order and the non-zero code makes jupyter-server-proxy restart the server, which recovers
 *   jobs and pipeline runs from SQLite.
 * - stdout/stderr errors (EPIPE once the proxy or Jupyter stops reading) are ignored: after the
 *   READY line nothing the server needs goes there.
 */
export function installProcessGuards(shutdown: (code: number, reason: string) => void): void {
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  process.on('unhandledRejection', reason => {
    logToStderr(`unhandled promise rejection (still serving): ${describe(reason)}`);
  });
  process.on('uncaughtException', err => {
    shutdown(1, `uncaught exception: ${describe(err)}`);
  });
  process.on('exit', code => logToStderr(`exited with code ${code}`));
}

import { HttpError } from './errors.js';

// The route modules' own error classes (unknown job, wrong run state, bad input file...) become
// HTTP statuses here, at the edge, so the layers below them stay free of HTTP.

type ErrorClass = abstract new (...args: never[]) => Error;

/** Error classes and the status each is answered with; the first class that matches wins. */
export type ErrorStatuses = ReadonlyArray<readonly [ErrorClass, number]>;

/** `handle`, answering an error of a listed class as an HttpError with its status. */
export function withErrorStatuses<A extends unknown[]>(
  statuses: ErrorStatuses,
  handle: (...args: A) => Promise<void>
): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await handle(...args);
    } catch (err) {
      const match = statuses.find(([errorClass]) => err instanceof errorClass);
      throw match ? new HttpError(match[1], (err as Error).message) : err;
    }
  };
}

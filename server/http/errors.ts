// An error that carries the HTTP status it should be answered with. Anything else thrown while
// handling a request becomes a 500, so the server never dies from a request.
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
  }
}

/** Errors crossing the worker boundary lose their class; this plain shape survives structured clone. */
export interface SerializedError {
  status: number;
  message: string;
}

export function toSerializedError(err: unknown): SerializedError {
  if (err instanceof HttpError) {
    return { status: err.status, message: err.message };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { status: 500, message };
}

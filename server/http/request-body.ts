import { Ajv, type ValidateFunction } from 'ajv';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.js';

// JSON request bodies of the API routes: read with a size limit, checked against a JSON schema,
// every refusal a 4xx naming what is wrong.

const MAX_BODY_BYTES = 1024 * 1024;

const ajv = new Ajv({ allErrors: true });

/** A validator for request bodies of type T (all errors reported at once). */
export function bodyValidator<T>(schema: object): ValidateFunction<T> {
  return ajv.compile<T>(schema);
}

/** The body as T, or a 400 listing every way it breaks the schema. */
export function validBody<T>(validate: ValidateFunction<T>, body: unknown): T {
  if (!validate(body)) {
    throw new HttpError(400, `invalid request body: ${ajv.errorsText(validate.errors)}`);
  }
  return body;
}

/** The parsed JSON body; an empty body is `{}`. 413 above 1 MiB, 400 when not JSON. */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      throw new HttpError(413, 'request body too large');
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') {
    return {};
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}

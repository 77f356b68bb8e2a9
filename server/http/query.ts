import { HttpError } from './errors.js';

/** The query parameter `name` if it is one of `allowed`; absent or empty: undefined; else 400. */
export function optionalChoice<T extends string>(
  q: URLSearchParams,
  name: string,
  allowed: readonly T[]
): T | undefined {
  const value = q.get(name);
  if (value === null || value === '') {
    return undefined;
  }
  if (!(allowed as readonly string[]).includes(value)) {
    throw new HttpError(400, `${name} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

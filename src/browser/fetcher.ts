import { createBasicFetcher, type Fetcher } from '@h5web/app';

/** Request options shared by H5Web's fetcher and our export downloads. */
export function requestInit(token: string): RequestInit {
  return {
    credentials: 'same-origin',
    ...(token ? { headers: { Authorization: `token ${token}` } } : {})
  };
}

const fetchers = new Map<string, Fetcher>();

/**
 * One fetcher per token: a new fetcher identity makes H5Web drop its whole cache,
 * so it must not be recreated on every render.
 */
export function getFetcher(token: string): Fetcher {
  let fetcher = fetchers.get(token);
  if (!fetcher) {
    fetcher = createBasicFetcher(requestInit(token));
    fetchers.set(token, fetcher);
  }
  return fetcher;
}

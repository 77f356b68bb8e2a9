// Pieces of one request (a read, a large group's /meta) shared out over the workers: each
// worker takes the next piece as soon as it is free, so a worker slowed by other load on the
// machine takes fewer, and the results are handed over in order. At most `window` pieces are
// read ahead of the consumer, which bounds memory; when the consumer stops (an error, a closed
// connection), no further piece starts.

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // a piece read ahead of a consumer that stopped is never awaited: not an unhandled rejection
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export async function* readInOrder<T>(
  count: number,
  workers: number,
  window: number,
  read: (piece: number, worker: number) => Promise<T>
): AsyncGenerator<T> {
  const results = Array.from({ length: count }, () => deferred<T>());
  let next = 0;
  let consumed = 0;
  let stopped = false;
  let roomMade = deferred<void>();

  const work = async (worker: number): Promise<void> => {
    while (!stopped && next < count) {
      if (next >= consumed + window) {
        await roomMade.promise;
        continue;
      }
      const piece = next++;
      try {
        results[piece].resolve(await read(piece, worker));
      } catch (err) {
        results[piece].reject(err);
      }
    }
  };
  for (let w = 0; w < Math.min(workers, count); w++) {
    void work(w);
  }
  try {
    for (; consumed < count;) {
      const value = await results[consumed].promise;
      consumed++;
      const made = roomMade;
      roomMade = deferred<void>();
      made.resolve();
      yield value;
    }
  } finally {
    stopped = true;
    roomMade.resolve();
  }
}

/**
 * Median wall time (ms) of `rounds` GET requests to an h5grove endpoint, each read to the end.
 * Two more requests go first and are not counted: they warm up connections and file handles.
 */
export async function medianRequestMs(
  url: string,
  endpoint: string,
  params: Record<string, string>,
  rounds: number
): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < rounds + 2; i++) {
    const t0 = performance.now();
    const res = await fetch(`${url}/${endpoint}?${new URLSearchParams(params)}`);
    if (res.status !== 200) {
      throw new Error(`${endpoint} ${res.status}: ${await res.text()}`);
    }
    await res.arrayBuffer();
    if (i >= 2) {
      times.push(performance.now() - t0);
    }
  }
  return times.sort((a, b) => a - b)[times.length >> 1];
}

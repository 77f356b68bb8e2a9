import fs from 'node:fs';
import path from 'node:path';
import { writeH5 } from './helpers.js';
import { startServerProcess, tempDir, type ServerProcess } from './jobs-helpers.js';

// A whole server process (files, jobs, pipelines, slabs) over a root holding a small HDF5 file,
// an experiment folder, and escapes: a secret file outside the root reachable only through
// `..`, absolute paths and symlinks. Shared by the confinement, fuzz and malformed-file tests.

/** written into the secret file: a response containing it is a leak */
export const SECRET_MARK = 'SECRET-7f3a';

export interface HostileServer {
  server: ServerProcess;
  base: string;
  root: string;
  outside: string;
  /** sends anything (method, raw target, body), never throws for an HTTP answer */
  send(method: string, target: string, body?: string): Promise<Answer>;
  close(): Promise<void>;
}

export interface Answer {
  status: number;
  contentType: string;
  text: string;
}

/** every request must be answered within this bound */
export const ANSWER_BOUND_MS = 30_000;

export async function startHostileServer(): Promise<HostileServer> {
  const base = fs.realpathSync(tempDir('nexus-hostile-'));
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  fs.mkdirSync(path.join(root, 'exp', 'scan1'), { recursive: true });
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(root, 'exp', 'scan1', 'scan.json'), '{}');
  writeH5(
    path.join(root, 'data.h5'),
    `f['ints'] = np.arange(24, dtype='<i4').reshape(2, 3, 4)
f['floats'] = np.linspace(0, 1, 100)
f['big'] = np.arange(1 << 20, dtype='<u1')
f['text'] = 'hello'
f['strings'] = np.array([b'a', b'bc'])
f['scalar'] = 3.5
f['empty'] = h5py.Empty('f4')
f['cpx'] = np.arange(4) + 1j
f['cmp'] = np.zeros(3, dtype=[('a', '<i2'), ('b', '<f8')])
f['bool'] = np.array([True, False])
f.create_group('grp/sub')
f['soft'] = h5py.SoftLink('/floats')
f['dangling'] = h5py.SoftLink('/nowhere')
f['ext'] = h5py.ExternalLink('../outside/secret.h5', '/v')
f.attrs['title'] = 'data'`
  );
  writeH5(
    path.join(outside, 'secret.h5'),
    `f['v'] = np.arange(3)\nf.attrs['mark'] = '${SECRET_MARK}'`
  );
  fs.mkdirSync(path.join(outside, 'exp2', 'scan1'), { recursive: true });
  fs.writeFileSync(path.join(outside, 'exp2', 'scan1', 'scan.json'), '{}');
  fs.symlinkSync(path.join(outside, 'secret.h5'), path.join(root, 'link_out.h5'));
  fs.symlinkSync(outside, path.join(root, 'dirlink_out'));
  const server = await startServerProcess(path.join(base, 'state'), root);
  const send = async (method: string, target: string, body?: string): Promise<Answer> => {
    const r = await fetch(`${server.url}${target}`, {
      method,
      headers: { Authorization: `token ${server.token}`, 'Content-Type': 'application/json' },
      body,
      signal: AbortSignal.timeout(ANSWER_BOUND_MS)
    });
    return {
      status: r.status,
      contentType: r.headers.get('content-type') ?? '',
      text: await r.text()
    };
  };
  return {
    server,
    base,
    root,
    outside,
    send,
    close: async () => {
      await server.stop();
      fs.rmSync(base, { recursive: true, force: true });
    }
  };
}

/** A JSON error `{message}` with a 4xx status; returns what is wrong, or null. */
export function errorProblem(a: Answer): string | null {
  if (a.status < 400 || a.status >= 500) {
    return `status ${a.status}`;
  }
  if (!a.contentType.includes('application/json')) {
    return `content-type ${a.contentType}`;
  }
  try {
    const body = JSON.parse(a.text) as { message?: unknown };
    return typeof body.message === 'string' && body.message !== '' ? null : 'no message';
  } catch {
    return 'body is not JSON';
  }
}

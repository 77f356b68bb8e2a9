import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO } from './helpers.js';
import {
  SECRET_MARK,
  errorProblem,
  startHostileServer,
  type HostileServer
} from './hostile-server.js';

// Path confinement on every endpoint that takes a path, over HTTP to a whole server process:
// absolute paths, `..`, symlinks out of the root, URL-encoded and double-encoded forms, double
// slashes, NUL bytes and very long paths are all refused with a 4xx JSON error, and no answer
// carries anything of the file outside the root.

let h: HostileServer;
before(async () => {
  h = await startHostileServer();
});
after(() => h.close());

/** how each endpoint takes its path; `value` is inserted already percent-encoded (raw) */
interface PathEndpoint {
  method: string;
  route: string;
  target(raw: string): string;
  body?(value: string): unknown;
  kind: 'file' | 'folder';
}

const q =
  (route: string, name: string, extra = '') =>
  (raw: string) =>
    `${route}?${name}=${raw}${extra}`;

const ENDPOINTS: PathEndpoint[] = [
  ...['/meta', '/attr', '/paths'].map(route => ({
    method: 'GET',
    route,
    target: q(route, 'file', '&path=/'),
    kind: 'file' as const
  })),
  ...['/data', '/stats'].map(route => ({
    method: 'GET',
    route,
    target: q(route, 'file', '&path=/v'),
    kind: 'file' as const
  })),
  { method: 'GET', route: '/slabs/source', target: q('/slabs/source', 'file'), kind: 'file' },
  {
    method: 'POST',
    route: '/slabs',
    target: () => '/slabs',
    body: file => ({ file, path: '/v' }),
    kind: 'file'
  },
  { method: 'GET', route: '/ls', target: q('/ls', 'path'), kind: 'folder' },
  {
    method: 'GET',
    route: '/pipelines/grid',
    target: q('/pipelines/grid', 'experiment'),
    kind: 'folder'
  },
  {
    method: 'GET',
    route: '/pipelines/watch',
    target: q('/pipelines/watch', 'experiment'),
    kind: 'folder'
  },
  {
    method: 'PUT',
    route: '/pipelines/watch',
    target: () => '/pipelines/watch',
    body: experiment => ({ experiment, autoRun: false }),
    kind: 'folder'
  },
  {
    method: 'POST',
    route: '/pipelines/runs',
    target: () => '/pipelines/runs',
    body: experiment => ({ experiment }),
    kind: 'folder'
  },
  {
    method: 'POST',
    route: '/pipelines/notebook',
    target: () => '/pipelines/notebook',
    body: experiment => ({ experiment, scan: 'scan1' }),
    kind: 'folder'
  }
];

/** [label, decoded value (for bodies), raw value (for query strings)] */
function hostile(kind: 'file' | 'folder', outside: string): [string, string, string][] {
  const target = kind === 'file' ? 'secret.h5' : 'exp2';
  const abs = path.join(outside, target);
  const list: [string, string][] = [
    ['absolute outside', abs],
    ['absolute system', kind === 'file' ? '/etc/passwd' : '/etc'],
    ['dot-dot', `../outside/${target}`],
    ['dot-dot inside first', `exp/../../outside/${target}`],
    ['symlinked folder', `dirlink_out/${target}`],
    ['double slash absolute', `//${abs.slice(1)}`],
    ['double slashes', `exp//..//..//outside//${target}`],
    ['backslashes', `..\\outside\\${target}`],
    ['NUL byte', `../outside/${target}\0`],
    ['NUL inside', `exp\0/../../outside/${target}`],
    ['very long', `${'exp/'.repeat(600)}${'../'.repeat(602)}outside/${target}`],
    ['very long name', 'x'.repeat(6000)]
  ];
  if (kind === 'file') {
    list.push(['symlink to file', 'link_out.h5']);
  }
  const rows: [string, string, string][] = list.map(([label, value]) => [
    label,
    value,
    encodeURIComponent(value)
  ]);
  // encodings a careless decoder would turn into `..`: sent raw, not re-encoded
  rows.push(
    ['%2e%2e', `../outside/${target}`, `%2e%2e/outside/${target}`],
    ['%2e%2e%2f', `../outside/${target}`, `%2e%2e%2foutside%2f${target}`],
    ['double-encoded', `%2e%2e%2foutside%2f${target}`, `%252e%252e%252foutside%252f${target}`],
    ['overlong UTF-8', `\u00c0\u00ae/outside/${target}`, `%c0%ae%c0%ae/outside/${target}`]
  );
  return rows;
}

for (const endpoint of ENDPOINTS) {
  describe(`${endpoint.method} ${endpoint.route}`, () => {
    test('refuses every escape with a 4xx JSON error and leaks nothing', async () => {
      for (const [label, value, raw] of hostile(endpoint.kind, h.outside)) {
        const a = await h.send(
          endpoint.method,
          endpoint.target(raw),
          endpoint.body && JSON.stringify(endpoint.body(value))
        );
        assert.equal(errorProblem(a), null, `${label}: ${a.status} ${a.text.slice(0, 200)}`);
        assert.ok(!a.text.includes(SECRET_MARK) && !a.text.includes('secret.h5'), label);
      }
    });
  });
}

test("a path beyond the HTTP parser's 16 KiB limit is refused with 431 JSON too", async () => {
  for (const endpoint of ENDPOINTS.filter(e => e.body === undefined)) {
    const a = await h.send(endpoint.method, endpoint.target(`${'..%2F'.repeat(5000)}etc%2Fpasswd`));
    assert.equal(errorProblem(a), null, `${endpoint.route}: ${a.status} ${a.text}`);
    assert.equal(a.status, 431);
  }
});

test('the same endpoints serve what is inside the root (the refusals are not blanket)', async () => {
  assert.equal((await h.send('GET', '/meta?file=data.h5&path=/')).status, 200);
  assert.equal((await h.send('GET', '/data?file=data.h5&path=/ints')).status, 200);
  assert.equal((await h.send('GET', '/ls?path=exp')).status, 200);
  assert.equal((await h.send('GET', '/pipelines/grid?experiment=exp')).status, 200);
  assert.equal((await h.send('GET', '/meta?file=exp%2F..%2Fdata.h5&path=/')).status, 200);
});

test('every route of the router is either covered here or takes no path', () => {
  // New endpoints must be added to ENDPOINTS (or to the list below with a reason).
  const withoutPaths: Record<string, string> = {
    '/': 'health check',
    '/jobs':
      'job directories run the user\u2019s own commands as the user; ids are looked up in SQLite',
    '/sites': 'remote sites: their files are confined by the remote server, tested there',
    '/events': 'WebSocket of job events',
    '/pipelines/definitions': 'definition names are validated by the schema (no path)',
    '/pipelines/runs/:id': 'run ids are looked up in SQLite',
    '/slabs/:id': 'slab ids are held in memory'
  };
  const app = fs.readFileSync(path.join(REPO, 'server', 'http', 'app.ts'), 'utf8');
  const routes = new Set(
    [...app.matchAll(/(?:route === |startsWith\(|^\s+)'(\/[a-z]*)\/?'(?:\)|:)?/gm)].map(m => m[1])
  );
  const covered = new Set([
    ...ENDPOINTS.map(e => e.route.split('/').slice(0, 2).join('/')),
    ...Object.keys(withoutPaths)
  ]);
  assert.ok(routes.size >= 8, [...routes].join(' '));
  for (const route of routes) {
    assert.ok(covered.has(route), `route ${route} takes no part in the confinement test`);
  }
});

import { createHmac } from 'node:crypto';
import fs from 'node:fs';

// Host key check against an OpenSSH known_hosts file (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"):
// plain and hashed (`|1|salt|hmac`) host names, `[host]:port` for non-default ports, comma
// lists, `!` negation, `*`/`?` wildcards and @revoked markers. ssh2 leaves this to the caller.

function hostNames(host: string, port: number): string[] {
  return port === 22 ? [host] : [`[${host}]:${port}`];
}

function wildcardMatch(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(name);
}

function patternMatches(patterns: string, names: string[]): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|');
    return names.some(
      name => createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash
    );
  }
  let matched = false;
  for (const pattern of patterns.split(',')) {
    const negated = pattern.startsWith('!');
    if (names.some(name => wildcardMatch(negated ? pattern.slice(1) : pattern, name))) {
      if (negated) {
        return false;
      }
      matched = true;
    }
  }
  return matched;
}

/** Why the key is refused, or undefined when a known_hosts line vouches for it. */
export function hostKeyProblem(
  knownHostsFile: string,
  host: string,
  port: number,
  key: Buffer
): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(knownHostsFile, 'utf8');
  } catch {
    return `cannot read ${knownHostsFile}: add the host key with ssh-keyscan first`;
  }
  const names = hostNames(host, port);
  const blob = key.toString('base64');
  let known = false;
  let otherKey = false;
  for (const raw of text.split('\n')) {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '' || fields[0].startsWith('#')) {
      continue;
    }
    const marker = fields[0].startsWith('@') ? fields.shift() : undefined;
    if (fields.length < 3 || !patternMatches(fields[0], names)) {
      continue;
    }
    if (marker === '@revoked' && fields[2] === blob) {
      return `the host key of ${names[0]} is revoked in ${knownHostsFile}`;
    }
    if (marker === undefined) {
      known ||= fields[2] === blob;
      otherKey ||= fields[2] !== blob;
    }
  }
  if (known) {
    return undefined;
  }
  return otherKey
    ? `the host key of ${names[0]} does not match ${knownHostsFile}: possible man-in-the-middle, refusing`
    : `${names[0]} is not in ${knownHostsFile}: add its host key with ssh-keyscan first`;
}

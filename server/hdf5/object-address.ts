import { Module } from 'h5wasm/node';

// The file address of an object's header, for the readers of HDF5's own structures
// (file-format.ts). An object reference holds it, but one made through an external link holds
// an address in the other file: such paths get null.

const MAX_LINK_HOPS = 16;

/** False if reaching `path` crosses an external link: its object then lives in another file. */
function storedInThisFile(fileId: bigint, path: string, hops = 0): boolean {
  if (hops > MAX_LINK_HOPS) {
    return false;
  }
  const parts = path.split('/').filter(p => p !== '');
  for (let i = 1; i <= parts.length; i++) {
    const prefix = `/${parts.slice(0, i).join('/')}`;
    const external = Module.get_external_link(fileId, prefix) as { filename?: string };
    if (external?.filename) {
      return false;
    }
    const soft = Module.get_symbolic_link(fileId, prefix) as string | null;
    if (typeof soft === 'string' && soft !== '') {
      const parent = `/${parts.slice(0, i - 1).join('/')}`;
      const target = soft.startsWith('/') ? soft : `${parent === '/' ? '' : parent}/${soft}`;
      return storedInThisFile(fileId, [target, ...parts.slice(i)].join('/'), hops + 1);
    }
  }
  return true;
}

export function objectAddress(fileId: bigint, path: string): number | null {
  if (!storedInThisFile(fileId, path)) {
    return null;
  }
  const ref = Module.create_object_reference(fileId, path) as ArrayLike<number>;
  return Number(Buffer.from(Uint8Array.from(ref)).readBigUInt64LE(0));
}

import { parentPort, workerData } from 'node:worker_threads';
import { Dataset, Datatype, Group, Module, ready } from 'h5wasm/node';
import { HttpError, toSerializedError } from '../http/errors.js';
import { toJson } from '../http/respond.js';
import {
  attributesOf,
  describeChildren,
  describeGroupOutline,
  describeResolved,
  linkRepr,
  resolvePath
} from './entities.js';
import { withChildHeaders } from './child-headers.js';
import { readChunksDirect } from './direct-chunk-read.js';
import { getFile } from './handles.js';
import { legacyNxdata } from './nexus-legacy.js';
import type { Description, WorkerRequest, WorkerResponse } from './messages.js';
import { fixAsciiStrings, readAttribute, readBytes, readJson, toJsonValue, nest } from './reads.js';
import { isBoolEnum, isNumeric } from './types.js';

// One h5wasm instance per worker thread: the API is synchronous, so HDF5 work must stay off
// the main event loop. Each worker owns its wasm heap and its open-file cache.

const { pluginDir } = (workerData ?? {}) as { pluginDir?: string };

await ready;
// Without this, HDF5 errors only print to stderr and return invalid ids.
Module.activate_throwing_error_handler();
if (pluginDir) {
  Module.insert_plugin_search_path(pluginDir, 0);
}

function requireDataset(req: WorkerRequest): Dataset {
  const file = getFile(req.file);
  const r = resolvePath(file, req.path, req.resolveLinks, req.basename);
  if ('link' in r || !(r.entity instanceof Dataset)) {
    // h5grove raises TypeError here → 500
    throw new HttpError(500, `${req.path} is not a dataset`);
  }
  return r.entity;
}

function handle(req: WorkerRequest): { result: unknown; transfer?: ArrayBuffer[] } {
  switch (req.op) {
    case 'meta': {
      const file = getFile(req.file);
      const r = resolvePath(file, req.path, req.resolveLinks, req.basename);
      if (req.outlineAbove !== null) {
        const outline = describeGroupOutline(r);
        if (outline && outline.childNames.length > req.outlineAbove) {
          return { result: outline };
        }
      }
      // Serialised here: one string crosses to the main thread faster than a structured clone
      // of tens of thousands of child objects, and the event loop stays free meanwhile.
      const meta =
        'entity' in r && r.entity instanceof Group
          ? withChildHeaders(req.file, file, req.path, headers =>
              describeResolved(r, true, file, headers)
            )
          : describeResolved(r, true, file);
      return { result: toJson(meta) };
    }
    case 'metaChildren': {
      const file = getFile(req.file);
      return {
        result: toJson(
          withChildHeaders(req.file, file, req.path, headers =>
            describeChildren(file, req.path, req.names, headers)
          )
        )
      };
    }
    case 'attr': {
      const file = getFile(req.file);
      const r = resolvePath(file, req.path, req.resolveLinks, req.basename);
      if ('link' in r) {
        throw new HttpError(500, `Cannot read attributes of unresolved link ${req.path}`);
      }
      const entity = r.entity as Group | Dataset | Datatype;
      const attrs = entity.attrs;
      const legacy = entity instanceof Group ? legacyNxdata(entity) : null;
      const synthetic: Record<string, unknown> = legacy
        ? { signal: legacy.signal, ...(legacy.axes ? { axes: legacy.axes } : {}) }
        : {};
      const names =
        req.attrKeys ??
        [...attributesOf(entity).map(a => a.name), ...Object.keys(synthetic)].sort();
      const out: Record<string, unknown> = {};
      for (const name of names) {
        if (name in synthetic) {
          out[name] = synthetic[name];
          continue;
        }
        const a = attrs[name];
        if (!a) {
          throw new HttpError(404, `Attribute ${name} not found at ${req.path}`);
        }
        const v = fixAsciiStrings(toJsonValue(readAttribute(entity, name)), a.metadata);
        out[name] = Array.isArray(v) && a.shape && a.shape.length > 1 ? nest(v, a.shape) : v;
      }
      return { result: out };
    }
    case 'paths': {
      const file = getFile(req.file);
      const r = resolvePath(file, req.path, req.resolveLinks, req.basename);
      if ('link' in r || !(r.entity instanceof Group)) {
        throw new HttpError(500, `${req.path} is not a group`);
      }
      const base = r.entity.path === '/' ? '' : r.entity.path;
      const names = Module.get_names(file.file_id, r.entity.path, true);
      return { result: [r.entity.path, ...names.map(n => `${base}/${n}`)] };
    }
    case 'describe': {
      const file = getFile(req.file);
      const r = resolvePath(file, req.path, req.resolveLinks, req.basename);
      if ('link' in r) {
        const d: Description = {
          kind: 'dangling',
          message: `Cannot resolve ${linkRepr(r.link)} at ${req.path} of ${req.basename}`
        };
        return { result: d };
      }
      if (!(r.entity instanceof Dataset)) {
        const kind = r.entity instanceof Group ? 'group' : 'datatype';
        const d: Description = { kind: 'other', entityKind: kind };
        return { result: d };
      }
      const m = r.entity.metadata;
      const d: Description = {
        kind: 'dataset',
        shape: m.shape,
        h5class: m.type,
        size: m.size,
        littleEndian: m.littleEndian,
        signed: m.signed,
        numeric: isNumeric(m),
        boolEnum: isBoolEnum(m),
        chunks: m.chunks ?? null
      };
      return { result: d };
    }
    case 'readBytes': {
      const ds = requireDataset(req);
      const buf =
        readChunksDirect(req.file, getFile(req.file), ds, req.path, req.axes) ??
        readBytes(ds, req.path, req.axes);
      return { result: buf, transfer: [buf] };
    }
    case 'readJson':
      return { result: readJson(requireDataset(req), req.path, req.axes, req.flatten) };
    case 'hang':
      for (;;) {
        // deliberately stuck: exercised by the pool's timeout test
      }
  }
}

parentPort!.on('message', (req: WorkerRequest) => {
  let msg: WorkerResponse;
  let transfer: ArrayBuffer[] = [];
  try {
    const out = handle(req);
    msg = { id: req.id, ok: true, result: out.result };
    transfer = out.transfer ?? [];
  } catch (err) {
    msg = { id: req.id, ok: false, error: toSerializedError(err) };
  }
  parentPort!.postMessage(msg, transfer);
});
parentPort!.postMessage({ ready: true });

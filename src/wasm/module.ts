// Reading what the JS API cannot ask a compiled WebAssembly.Module: the limits of an imported memory.
// A minimal reader of the binary format's import section (sections, LEB128, names, import descriptors).

export interface MemoryLimits {
  /** In 64 KiB pages. */
  initial: number;
  maximum?: number;
  shared: boolean;
}

/** The limits of the memory a module imports, or undefined when it imports none. Throws on a malformed module. */
export function memoryImportOf(bytes: ArrayBufferView | ArrayBufferLike): MemoryLimits | undefined {
  const u8 = ArrayBuffer.isView(bytes)
    ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    : new Uint8Array(bytes);
  let at = 8; // magic and version
  const fail = (what: string): never => {
    throw new TypeError(`webmalloc: malformed wasm module (${what} at byte ${at})`);
  };
  if (u8.length < 8 || u8[0] !== 0 || u8[1] !== 0x61 || u8[2] !== 0x73 || u8[3] !== 0x6d) fail('no wasm magic');
  const byte = (): number => (at < u8.length ? u8[at++] : fail('unexpected end'));
  const leb = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) fail('LEB128 too long');
    }
  };
  const skipName = (): void => {
    const n = leb();
    at += n;
  };
  const limits = (): MemoryLimits => {
    const flags = byte();
    const initial = leb();
    const maximum = (flags & 1) !== 0 ? leb() : undefined;
    return { initial, maximum, shared: (flags & 2) !== 0 };
  };
  while (at < u8.length) {
    const id = byte();
    const size = leb();
    const end = at + size;
    if (id !== 2) {
      at = end;
      continue;
    }
    const count = leb();
    for (let i = 0; i < count; i++) {
      skipName();
      skipName();
      const kind = byte();
      if (kind === 0) leb(); // function: type index
      else if (kind === 1) {
        byte(); // table: element type
        limits();
      } else if (kind === 2) return limits();
      else if (kind === 3) at += 2; // global: value type, mutability
      else if (kind === 4) {
        byte(); // tag: attribute, type index
        leb();
      } else fail(`unknown import kind ${kind}`);
    }
    return undefined;
  }
  return undefined;
}

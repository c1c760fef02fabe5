// A minimal, bounds-checked FlatBuffers reader: just enough to walk a TFLite
// model (tables through their vtables, vectors of scalars / tables, strings,
// union members read as plain tables). Every read is checked against the
// buffer; anything out of range fails with
//
//   tflite: model.tflite: truncated or corrupt flatbuffer at byte 1234
//
// FlatBuffers layout (little-endian): the file starts with a uoffset (u32) to
// the root table, then an optional 4-byte file identifier. A table starts with
// an soffset (i32): the vtable lies at table - soffset. A vtable is u16 vtable
// size, u16 table size, then one u16 offset per field (0 = absent: default).
// Reference fields (tables, vectors, strings) hold a u32 offset relative to
// the field itself; vectors and strings start with a u32 element count.

export class FlatBuffer {
  readonly bytes: Uint8Array;
  readonly label: string;
  private readonly view: DataView;

  constructor(bytes: Uint8Array, label: string) {
    this.bytes = bytes;
    this.label = label;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  corrupt(at: number): Error {
    return new Error(`tflite: ${this.label}: truncated or corrupt flatbuffer at byte ${at}`);
  }

  /** Throws unless [at, at+size) lies inside the buffer. */
  check(at: number, size: number): void {
    if (!Number.isInteger(at) || at < 0 || size < 0 || at + size > this.bytes.length) throw this.corrupt(Math.max(0, Math.min(at, this.bytes.length)));
  }

  u8(at: number): number {
    this.check(at, 1);
    return this.view.getUint8(at);
  }
  i8(at: number): number {
    this.check(at, 1);
    return this.view.getInt8(at);
  }
  u16(at: number): number {
    this.check(at, 2);
    return this.view.getUint16(at, true);
  }
  i32(at: number): number {
    this.check(at, 4);
    return this.view.getInt32(at, true);
  }
  u32(at: number): number {
    this.check(at, 4);
    return this.view.getUint32(at, true);
  }
  f32(at: number): number {
    this.check(at, 4);
    return this.view.getFloat32(at, true);
  }
  i64(at: number): number {
    this.check(at, 8);
    return Number(this.view.getBigInt64(at, true));
  }
  u64(at: number): number {
    this.check(at, 8);
    return Number(this.view.getBigUint64(at, true));
  }

  /** The 4-byte file identifier at bytes 4..8 ('' when the buffer is shorter). */
  identifier(): string {
    if (this.bytes.length < 8) return '';
    return String.fromCharCode(...this.bytes.subarray(4, 8));
  }

  /** The root table. */
  root(): Table {
    return this.table(0);
  }

  /** The table that the uoffset at `at` points to. */
  table(at: number): Table {
    const pos = at + this.u32(at);
    const vt = pos - this.i32(pos);
    const vtSize = this.u16(vt);
    if (vtSize < 4 || vtSize % 2) throw this.corrupt(vt);
    const tableSize = this.u16(vt + 2);
    this.check(vt, vtSize);
    this.check(pos, Math.max(4, tableSize));
    return new Table(this, pos, vt, vtSize, tableSize);
  }
}

/** One table: fields by their schema index (0-based, in declaration order). */
export class Table {
  constructor(
    private readonly fb: FlatBuffer,
    readonly pos: number,
    private readonly vt: number,
    private readonly vtSize: number,
    private readonly tableSize: number,
  ) {}

  /** Absolute position of field `i`, or 0 when absent. */
  private field(i: number, size: number): number {
    const slot = 4 + 2 * i;
    if (slot + 2 > this.vtSize) return 0;
    const off = this.fb.u16(this.vt + slot);
    if (!off) return 0;
    if (off + size > this.tableSize) throw this.fb.corrupt(this.vt + slot);
    return this.pos + off;
  }

  has(i: number): boolean {
    return this.field(i, 1) !== 0;
  }

  u8(i: number, def = 0): number {
    const at = this.field(i, 1);
    return at ? this.fb.u8(at) : def;
  }
  i8(i: number, def = 0): number {
    const at = this.field(i, 1);
    return at ? this.fb.i8(at) : def;
  }
  bool(i: number, def = false): boolean {
    const at = this.field(i, 1);
    return at ? this.fb.u8(at) !== 0 : def;
  }
  i32(i: number, def = 0): number {
    const at = this.field(i, 4);
    return at ? this.fb.i32(at) : def;
  }
  u32(i: number, def = 0): number {
    const at = this.field(i, 4);
    return at ? this.fb.u32(at) : def;
  }
  f32(i: number, def = 0): number {
    const at = this.field(i, 4);
    return at ? this.fb.f32(at) : def;
  }
  u64(i: number, def = 0): number {
    const at = this.field(i, 8);
    return at ? this.fb.u64(at) : def;
  }

  /** A sub-table (or a union's value), undefined when absent. */
  table(i: number): Table | undefined {
    const at = this.field(i, 4);
    return at ? this.fb.table(at) : undefined;
  }

  string(i: number): string | undefined {
    const v = this.vector(i, 1);
    if (!v) return undefined;
    return new TextDecoder('utf-8').decode(this.fb.bytes.subarray(v.start, v.start + v.length));
  }

  /** Start and element count of a vector field, bounds-checked for `elemSize`-byte elements. */
  vector(i: number, elemSize: number): { start: number; length: number } | undefined {
    const at = this.field(i, 4);
    if (!at) return undefined;
    const vec = at + this.fb.u32(at);
    const length = this.fb.u32(vec);
    this.fb.check(vec + 4, length * elemSize);
    return { start: vec + 4, length };
  }

  /** The raw bytes of a [ubyte] vector (a view, not a copy). */
  bytes(i: number): Uint8Array | undefined {
    const v = this.vector(i, 1);
    return v ? this.fb.bytes.subarray(v.start, v.start + v.length) : undefined;
  }

  i32s(i: number): number[] | undefined {
    const v = this.vector(i, 4);
    return v && Array.from({ length: v.length }, (_, k) => this.fb.i32(v.start + 4 * k));
  }
  f32s(i: number): number[] | undefined {
    const v = this.vector(i, 4);
    return v && Array.from({ length: v.length }, (_, k) => this.fb.f32(v.start + 4 * k));
  }
  i64s(i: number): number[] | undefined {
    const v = this.vector(i, 8);
    return v && Array.from({ length: v.length }, (_, k) => this.fb.i64(v.start + 8 * k));
  }

  /** A vector of tables; [] when absent. */
  tables(i: number): Table[] {
    const v = this.vector(i, 4);
    return v ? Array.from({ length: v.length }, (_, k) => this.fb.table(v.start + 4 * k)) : [];
  }
}

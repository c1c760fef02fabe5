// A minimal protobuf wire-format reader and decoders for the ONNX messages the
// loader needs (field numbers from onnx.proto). Unknown fields are skipped, so
// newer files still load; a field whose wire type or length does not fit is
// reported as corruption with its absolute byte offset:
//   onnx: model.onnx: truncated or corrupt protobuf at byte 1234

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder('utf-8');

/** Reads one message (or nested message) between `pos` and `end` of a shared buffer. */
export class ProtoReader {
  private readonly view: DataView;
  /** Where the current field's tag started: the offset reported when its payload does not fit. */
  private fieldStart: number;

  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    readonly end: number,
    readonly label: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    // A packed run is read with no keys: its overruns are reported at its start.
    this.fieldStart = pos;
  }

  static of(buf: Uint8Array, label: string): ProtoReader {
    return new ProtoReader(buf, 0, buf.length, label);
  }

  fail(at: number = this.fieldStart): never {
    throw new Error(`onnx: ${this.label}: truncated or corrupt protobuf at byte ${at}`);
  }

  more(): boolean {
    return this.pos < this.end;
  }

  /** Next field key: [field number, wire type]. */
  key(): [number, number] {
    this.fieldStart = this.pos;
    const k = this.varint();
    const field = Math.floor(k / 8);
    const wire = k % 8;
    // Field 0 and wire types 3/4 (groups, unused by ONNX) or 6/7 never occur in a valid file.
    if (field < 1 || field > 0x1fffffff || ![WIRE_VARINT, WIRE_FIXED64, WIRE_BYTES, WIRE_FIXED32].includes(wire))
      this.fail();
    return [field, wire];
  }

  /**
   * A varint as a JS number. Int64 values are two's complement over 64 bits,
   * so the high word is read signed: -1 (ten 0xff.. bytes) comes back as -1.
   * Magnitudes past 2^53 lose precision, which no dimension or attribute reaches.
   */
  varint(): number {
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (let i = 0; ; ++i) {
      if (this.pos >= this.end || i >= 10) this.fail(this.fieldStart);
      const b = this.buf[this.pos++];
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >>> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      shift += 7;
      if (!(b & 0x80)) break;
    }
    return (hi | 0) * 4294967296 + (lo >>> 0);
  }

  private need(n: number): number {
    if (n < 0 || this.pos + n > this.end) this.fail();
    const at = this.pos;
    this.pos += n;
    return at;
  }

  float(): number {
    return this.view.getFloat32(this.need(4), true);
  }

  double(): number {
    return this.view.getFloat64(this.need(8), true);
  }

  /** A length-delimited payload as a view into the buffer (no copy). */
  bytes(): Uint8Array {
    const n = this.varint();
    const at = this.need(n);
    return this.buf.subarray(at, at + n);
  }

  string(): string {
    return utf8.decode(this.bytes());
  }

  /** A nested message: a reader over its payload, sharing the buffer so offsets stay absolute. */
  message(): ProtoReader {
    const n = this.varint();
    const at = this.need(n);
    return new ProtoReader(this.buf, at, at + n, this.label);
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_FIXED64) this.need(8);
    else if (wire === WIRE_FIXED32) this.need(4);
    else this.need(this.varint());
  }

  /** Checks that the field has the wire type its schema says. */
  expect(wire: number, want: number): void {
    if (wire !== want) this.fail();
  }

  /** A repeated scalar field, packed (one length-delimited run) or not (one value per key). */
  repeated(wire: number, scalarWire: number, read: (r: ProtoReader) => number, out: number[]): void {
    if (wire === scalarWire) {
      out.push(read(this));
      return;
    }
    this.expect(wire, WIRE_BYTES);
    const run = this.message();
    while (run.more()) out.push(read(run));
  }
}

const readVarint = (r: ProtoReader): number => r.varint();
const readFloat = (r: ProtoReader): number => r.float();
const readDouble = (r: ProtoReader): number => r.double();

// ---- ONNX messages -------------------------------------------------------

export interface TensorProto {
  name: string;
  dims: number[];
  dataType: number;
  floatData: number[];
  int32Data: number[];
  int64Data: number[];
  doubleData: number[];
  uint64Data: number[];
  rawData?: Uint8Array;
  /** 1 = EXTERNAL: the values live in another file. */
  dataLocation: number;
  hasExternalData: boolean;
  hasStringData: boolean;
}

export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
}

export interface NodeProto {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  domain: string;
  attribute: AttributeProto[];
}

/** A dimension: a size, a symbolic name, or unknown (null). */
export type Dim = number | string | null;

export interface ValueInfoProto {
  name: string;
  elemType?: number;
  /** Absent when the type carries no shape at all (rank unknown). */
  shape?: Dim[];
}

export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
}

export interface ModelProto {
  irVersion: number;
  producerName: string;
  opsetImport: { domain: string; version: number }[];
  graph?: GraphProto;
}

export function decodeTensor(r: ProtoReader): TensorProto {
  const t: TensorProto = {
    name: '',
    dims: [],
    dataType: 0,
    floatData: [],
    int32Data: [],
    int64Data: [],
    doubleData: [],
    uint64Data: [],
    dataLocation: 0,
    hasExternalData: false,
    hasStringData: false,
  };
  while (r.more()) {
    const [field, wire] = r.key();
    switch (field) {
      case 1: r.repeated(wire, WIRE_VARINT, readVarint, t.dims); break;
      case 2: r.expect(wire, WIRE_VARINT); t.dataType = r.varint(); break;
      case 4: r.repeated(wire, WIRE_FIXED32, readFloat, t.floatData); break;
      case 5: r.repeated(wire, WIRE_VARINT, readVarint, t.int32Data); break;
      case 6: r.expect(wire, WIRE_BYTES); r.bytes(); t.hasStringData = true; break;
      case 7: r.repeated(wire, WIRE_VARINT, readVarint, t.int64Data); break;
      case 8: r.expect(wire, WIRE_BYTES); t.name = r.string(); break;
      case 9: r.expect(wire, WIRE_BYTES); t.rawData = r.bytes(); break;
      case 10: r.repeated(wire, WIRE_FIXED64, readDouble, t.doubleData); break;
      case 11: r.repeated(wire, WIRE_VARINT, readVarint, t.uint64Data); break;
      case 13: r.expect(wire, WIRE_BYTES); r.bytes(); t.hasExternalData = true; break;
      case 14: r.expect(wire, WIRE_VARINT); t.dataLocation = r.varint(); break;
      default: r.skip(wire);
    }
  }
  return t;
}

function decodeAttribute(r: ProtoReader): AttributeProto {
  const a: AttributeProto = { name: '', type: 0, floats: [], ints: [], strings: [] };
  while (r.more()) {
    const [field, wire] = r.key();
    switch (field) {
      case 1: r.expect(wire, WIRE_BYTES); a.name = r.string(); break;
      case 2: r.expect(wire, WIRE_FIXED32); a.f = r.float(); break;
      case 3: r.expect(wire, WIRE_VARINT); a.i = r.varint(); break;
      case 4: r.expect(wire, WIRE_BYTES); a.s = r.bytes(); break;
      case 5: r.expect(wire, WIRE_BYTES); a.t = decodeTensor(r.message()); break;
      case 7: r.repeated(wire, WIRE_FIXED32, readFloat, a.floats); break;
      case 8: r.repeated(wire, WIRE_VARINT, readVarint, a.ints); break;
      case 9: r.expect(wire, WIRE_BYTES); a.strings.push(r.bytes()); break;
      case 20: r.expect(wire, WIRE_VARINT); a.type = r.varint(); break;
      default: r.skip(wire); // subgraphs, sparse tensors, type protos: no op we convert uses them
    }
  }
  return a;
}

function decodeNode(r: ProtoReader): NodeProto {
  const n: NodeProto = { input: [], output: [], name: '', opType: '', domain: '', attribute: [] };
  while (r.more()) {
    const [field, wire] = r.key();
    switch (field) {
      case 1: r.expect(wire, WIRE_BYTES); n.input.push(r.string()); break;
      case 2: r.expect(wire, WIRE_BYTES); n.output.push(r.string()); break;
      case 3: r.expect(wire, WIRE_BYTES); n.name = r.string(); break;
      case 4: r.expect(wire, WIRE_BYTES); n.opType = r.string(); break;
      case 5: r.expect(wire, WIRE_BYTES); n.attribute.push(decodeAttribute(r.message())); break;
      case 7: r.expect(wire, WIRE_BYTES); n.domain = r.string(); break;
      default: r.skip(wire);
    }
  }
  return n;
}

// TensorShapeProto.Dimension: dim_value (1) | dim_param (2).
function decodeDim(r: ProtoReader): Dim {
  let d: Dim = null;
  while (r.more()) {
    const [field, wire] = r.key();
    if (field === 1) {
      r.expect(wire, WIRE_VARINT);
      d = r.varint();
    } else if (field === 2) {
      r.expect(wire, WIRE_BYTES);
      d = r.string();
    } else r.skip(wire);
  }
  return d;
}

// TypeProto.tensor_type (1) -> Tensor { elem_type (1), shape (2) -> TensorShapeProto { dim (1) } }.
function decodeTensorType(r: ProtoReader, v: ValueInfoProto): void {
  while (r.more()) {
    const [field, wire] = r.key();
    if (field === 1) {
      r.expect(wire, WIRE_VARINT);
      v.elemType = r.varint();
    } else if (field === 2) {
      r.expect(wire, WIRE_BYTES);
      const shape = r.message();
      v.shape = [];
      while (shape.more()) {
        const [f, w] = shape.key();
        if (f === 1) {
          shape.expect(w, WIRE_BYTES);
          v.shape.push(decodeDim(shape.message()));
        } else shape.skip(w);
      }
    } else r.skip(wire);
  }
}

function decodeValueInfo(r: ProtoReader): ValueInfoProto {
  const v: ValueInfoProto = { name: '' };
  while (r.more()) {
    const [field, wire] = r.key();
    if (field === 1) {
      r.expect(wire, WIRE_BYTES);
      v.name = r.string();
    } else if (field === 2) {
      r.expect(wire, WIRE_BYTES);
      const type = r.message();
      while (type.more()) {
        const [f, w] = type.key();
        if (f === 1) {
          type.expect(w, WIRE_BYTES);
          decodeTensorType(type.message(), v);
        } else type.skip(w);
      }
    } else r.skip(wire);
  }
  return v;
}

function decodeGraph(r: ProtoReader): GraphProto {
  const g: GraphProto = { name: '', node: [], initializer: [], input: [], output: [], valueInfo: [] };
  while (r.more()) {
    const [field, wire] = r.key();
    switch (field) {
      case 1: r.expect(wire, WIRE_BYTES); g.node.push(decodeNode(r.message())); break;
      case 2: r.expect(wire, WIRE_BYTES); g.name = r.string(); break;
      case 5: r.expect(wire, WIRE_BYTES); g.initializer.push(decodeTensor(r.message())); break;
      case 11: r.expect(wire, WIRE_BYTES); g.input.push(decodeValueInfo(r.message())); break;
      case 12: r.expect(wire, WIRE_BYTES); g.output.push(decodeValueInfo(r.message())); break;
      case 13: r.expect(wire, WIRE_BYTES); g.valueInfo.push(decodeValueInfo(r.message())); break;
      default: r.skip(wire);
    }
  }
  return g;
}

export function decodeModel(buf: Uint8Array, label: string): ModelProto {
  const r = ProtoReader.of(buf, label);
  const m: ModelProto = { irVersion: 0, producerName: '', opsetImport: [] };
  while (r.more()) {
    const [field, wire] = r.key();
    switch (field) {
      case 1: r.expect(wire, WIRE_VARINT); m.irVersion = r.varint(); break;
      case 2: r.expect(wire, WIRE_BYTES); m.producerName = r.string(); break;
      case 7: r.expect(wire, WIRE_BYTES); m.graph = decodeGraph(r.message()); break;
      case 8: {
        r.expect(wire, WIRE_BYTES);
        const o = r.message();
        const opset = { domain: '', version: 0 };
        while (o.more()) {
          const [f, w] = o.key();
          if (f === 1) {
            o.expect(w, WIRE_BYTES);
            opset.domain = o.string();
          } else if (f === 2) {
            o.expect(w, WIRE_VARINT);
            opset.version = o.varint();
          } else o.skip(w);
        }
        m.opsetImport.push(opset);
        break;
      }
      default: r.skip(wire);
    }
  }
  return m;
}

/** A standalone TensorProto file (the node tests' input_N.pb / output_N.pb). */
export function decodeTensorFile(buf: Uint8Array, label: string): TensorProto {
  return decodeTensor(ProtoReader.of(buf, label));
}

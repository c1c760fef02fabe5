// BMP decoder. sharp (libvips) reads no BMP, so we parse it here.
//
// Reads: BITMAPCOREHEADER (12 bytes), BITMAPINFOHEADER (40) and its successors
// (V2 52, V3 56, OS/2 64, V4 108, V5 124); 1/4/8-bit palettized, 16/32-bit
// direct colour (BI_RGB or BI_BITFIELDS / BI_ALPHABITFIELDS masks) and 24-bit
// BI_RGB; bottom-up (positive height) and top-down (negative height) rows,
// each padded to a multiple of 4 bytes. RLE, JPEG/PNG-in-BMP and CMYK are
// refused with the compression named.
//
// Output is always HWC RGB, 8 bits per channel, top row first. Errors start
// with "bmp:" so the caller can wrap them.

/** A decoded BMP: `data` holds width*height*3 bytes, HWC RGB, top row first. */
export interface BmpImage {
  width: number;
  height: number;
  channels: 3;
  data: Uint8Array;
}

/** What the headers say, before any pixel is read. */
export interface BmpHeader {
  width: number;
  /** Always positive; `topDown` tells the row order. */
  height: number;
  topDown: boolean;
  bitsPerPixel: number;
  compression: number;
  /** Byte offset of the first pixel row in the file. */
  pixelOffset: number;
  /** Palette entries (BGR or BGRx) for 1/4/8-bit files; empty otherwise. */
  palette: Uint8Array;
  /** Number of usable palette entries. */
  colours: number;
  /** Red, green, blue and alpha masks for 16/32-bit files; null means plain BGR(x) bytes. */
  masks: [number, number, number, number] | null;
}

const FILE_HEADER = 14;
const HEADER_SIZES = [12, 40, 52, 56, 64, 108, 124];
const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;
const OS2_HEADER = 64;

// Windows names; the OS/2 2.x header reuses 3 and 4 for other schemes.
const COMPRESSION_NAMES: Record<number, string> = {
  0: 'none',
  1: 'RLE8',
  2: 'RLE4',
  3: 'bitfields',
  4: 'JPEG',
  5: 'PNG',
  6: 'alpha bitfields',
  11: 'CMYK',
  12: 'CMYK RLE8',
  13: 'CMYK RLE4',
};
const OS2_COMPRESSION_NAMES: Record<number, string> = { 0: 'none', 1: 'RLE8', 2: 'RLE4', 3: 'Huffman 1D', 4: 'RLE24' };

/** True when the bytes start with the 'BM' signature. */
export function isBmp(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

function truncated(what: string, end: number, have: number): Error {
  return new Error(`bmp: truncated file (${have} bytes): ${what} ends at byte ${end}`);
}

interface MaskShape {
  mask: number;
  shift: number;
  /** The channel's largest value, e.g. 31 for a 5-bit channel. */
  max: number;
}

/** Splits a channel mask into its shift and width; a mask must be one run of set bits. */
function maskShape(name: string, mask: number): MaskShape {
  if (mask === 0) return { mask, shift: 0, max: 0 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  const max = mask >>> shift;
  if ((max & (max + 1)) !== 0)
    throw new Error(`bmp: ${name} mask 0x${mask.toString(16)} is not one contiguous run of bits`);
  return { mask, shift, max };
}

/** Parses the file and info headers, the masks and the palette; reads no pixel rows. */
export function readBmpHeader(bytes: Uint8Array): BmpHeader {
  if (!isBmp(bytes)) throw new Error("bmp: not a BMP file (no 'BM' signature)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < FILE_HEADER + 4) throw truncated('the file header', FILE_HEADER + 4, bytes.length);
  const pixelOffset = view.getUint32(10, true);
  const headerSize = view.getUint32(14, true);
  if (!HEADER_SIZES.includes(headerSize))
    throw new Error(`bmp: unsupported info header size ${headerSize}; expected one of ${HEADER_SIZES.join(', ')}`);
  const headersEnd = FILE_HEADER + headerSize;
  if (bytes.length < headersEnd) throw truncated(`the ${headerSize}-byte info header`, headersEnd, bytes.length);

  const core = headerSize === 12;
  const width = core ? view.getUint16(18, true) : view.getInt32(18, true);
  const rawHeight = core ? view.getUint16(20, true) : view.getInt32(22, true);
  const bitsPerPixel = core ? view.getUint16(24, true) : view.getUint16(28, true);
  const compression = core ? BI_RGB : view.getUint32(30, true);
  const coloursUsed = core ? 0 : view.getUint32(46, true);
  if (width <= 0 || rawHeight === 0) throw new Error(`bmp: invalid size ${width}x${rawHeight}`);
  if (![1, 4, 8, 16, 24, 32].includes(bitsPerPixel))
    throw new Error(`bmp: unsupported bit depth ${bitsPerPixel}; expected 1, 4, 8, 16, 24 or 32`);

  const bitfields = compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS;
  if (headerSize === OS2_HEADER && compression !== BI_RGB) {
    const name = OS2_COMPRESSION_NAMES[compression] ?? 'unknown';
    throw new Error(`bmp: unsupported OS/2 compression ${compression} (${name}); expected 0 (none)`);
  }
  if (compression !== BI_RGB && !bitfields) {
    const name = COMPRESSION_NAMES[compression] ?? 'unknown';
    throw new Error(`bmp: unsupported compression ${compression} (${name}); expected 0 (none) or 3 (bitfields)`);
  }
  if (bitfields && bitsPerPixel !== 16 && bitsPerPixel !== 32)
    throw new Error(
      `bmp: compression ${compression} (${COMPRESSION_NAMES[compression]}) needs 16 or 32 bits per pixel but the file has ${bitsPerPixel}`,
    );

  let masks: BmpHeader['masks'] = null;
  let tablesEnd = headersEnd;
  if (bitfields) {
    // A 40-byte header keeps its masks just after it; larger headers hold them inside.
    const count = compression === BI_ALPHABITFIELDS ? 4 : 3;
    const inHeader = headerSize >= 52;
    const at = 54;
    if (!inHeader) tablesEnd += count * 4;
    if (bytes.length < at + count * 4) throw truncated('the colour masks', at + count * 4, bytes.length);
    const alphaPresent = count === 4 || headerSize >= 56;
    masks = [
      view.getUint32(at, true),
      view.getUint32(at + 4, true),
      view.getUint32(at + 8, true),
      alphaPresent ? view.getUint32(at + 12, true) : 0,
    ];
  } else if (bitsPerPixel === 16) {
    masks = [0x7c00, 0x03e0, 0x001f, 0]; // BI_RGB 16-bit is X1R5G5B5
  }

  if (pixelOffset < tablesEnd)
    throw new Error(`bmp: pixel data offset ${pixelOffset} lies inside the headers, which end at ${tablesEnd}`);
  let palette: Uint8Array = new Uint8Array(0);
  let colours = 0;
  if (bitsPerPixel <= 8) {
    const entry = core ? 3 : 4;
    // Writers that leave coloursUsed at 0 may still store a short palette: keep what fits before the pixels.
    const room = Math.floor((pixelOffset - tablesEnd) / entry);
    colours = Math.min(coloursUsed || 1 << bitsPerPixel, 1 << bitsPerPixel, room);
    const end = tablesEnd + colours * entry;
    if (bytes.length < end) throw truncated(`the ${colours}-colour palette`, end, bytes.length);
    palette = bytes.subarray(tablesEnd, end);
  }
  return {
    width,
    height: Math.abs(rawHeight),
    topDown: rawHeight < 0,
    bitsPerPixel,
    compression,
    pixelOffset,
    palette,
    colours,
    masks,
  };
}

/**
 * Decodes a whole BMP file. Palette indices past the palette's end read as
 * black, as browsers do. Transparency (an alpha mask) is composited onto white,
 * like readImage does for other formats, unless every alpha value is 0: many
 * writers leave the alpha bytes zero and mean opaque.
 */
export function decodeBmp(bytes: Uint8Array): BmpImage {
  const h = readBmpHeader(bytes);
  const { width, height, bitsPerPixel: bpp } = h;
  const rowStride = Math.floor((bpp * width + 31) / 32) * 4;
  const lastRow = Math.ceil((bpp * width) / 8); // the final row's padding may be missing
  const need = h.pixelOffset + rowStride * (height - 1) + lastRow;
  if (bytes.length < need) throw truncated(`the ${width}x${height} ${bpp}-bit pixel data`, need, bytes.length);

  const out = new Uint8Array(width * height * 3);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entry = h.palette.length / Math.max(h.colours, 1);
  const [r, g, b, a] = (h.masks ?? [0, 0, 0, 0]).map((m, i) => maskShape(['red', 'green', 'blue', 'alpha'][i], m));
  const alpha = a.max !== 0 ? new Uint8Array(width * height) : null;
  let anyAlpha = false;

  for (let y = 0; y < height; y++) {
    const src = h.pixelOffset + (h.topDown ? y : height - 1 - y) * rowStride;
    let o = y * width * 3;
    if (bpp <= 8) {
      const perByte = 8 / bpp;
      const indexMask = (1 << bpp) - 1;
      for (let x = 0; x < width; x++) {
        // The leftmost pixel sits in the most significant bits.
        const shift = 8 - bpp * ((x % perByte) + 1);
        const index = (bytes[src + Math.floor(x / perByte)] >> shift) & indexMask;
        if (index < h.colours) {
          const p = index * entry;
          out[o] = h.palette[p + 2];
          out[o + 1] = h.palette[p + 1];
          out[o + 2] = h.palette[p];
        } // else: left black
        o += 3;
      }
    } else if (h.masks === null) {
      const step = bpp / 8; // 24-bit BGR or 32-bit BGRx
      for (let x = 0, s = src; x < width; x++, s += step, o += 3) {
        out[o] = bytes[s + 2];
        out[o + 1] = bytes[s + 1];
        out[o + 2] = bytes[s];
      }
    } else {
      for (let x = 0; x < width; x++, o += 3) {
        const v = bpp === 16 ? view.getUint16(src + 2 * x, true) : view.getUint32(src + 4 * x, true);
        out[o] = scale(v, r);
        out[o + 1] = scale(v, g);
        out[o + 2] = scale(v, b);
        if (alpha !== null) {
          const av = scale(v, a);
          alpha[y * width + x] = av;
          if (av !== 0) anyAlpha = true;
        }
      }
    }
  }
  if (alpha !== null && anyAlpha) flattenOntoWhite(out, alpha);
  return { width, height, channels: 3, data: out };
}

/** Widens a masked channel to 0..255 (a 5-bit 31 becomes 255). */
function scale(v: number, m: MaskShape): number {
  return m.max === 0 ? 0 : Math.round((((v & m.mask) >>> m.shift) * 255) / m.max);
}

/** out = c*a + 255*(1-a), per channel, a in 0..1 (straight, not premultiplied, alpha). */
function flattenOntoWhite(rgb: Uint8Array, alpha: Uint8Array): void {
  for (let i = 0; i < alpha.length; i++) {
    const a = alpha[i];
    if (a === 255) continue;
    for (let c = 0; c < 3; c++) rgb[3 * i + c] = Math.round((rgb[3 * i + c] * a + 255 * (255 - a)) / 255);
  }
}

// Image I/O: decoding against the raw references in ../shared, our BMP reader
// on hand-built files, resize modes, orientation, alpha, write round trips,
// tensor conversion, and the pinned text of every user-facing error.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';

import { imageToTensor, readImage, resizeImage, tensorToImage, writeImage } from '../../src/ts/image';
import type { Image } from '../../src/ts/image';
import { Tensor } from '../../src/ts/tensor';

const SHARED = process.env.EYECANDY_SHARED ?? path.resolve(__dirname, '../../../shared');
const photo = (name: string) => path.join(SHARED, 'images/photos', name);
const reference = (name: string) => new Uint8Array(fs.readFileSync(path.join(SHARED, 'reference/inputs', name)));

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-image-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The RGB triple at (x, y). */
const pixel = (img: Image, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

/** A sharp pipeline over raw pixels, ready to encode. */
function encode(pixels: number[], width: number, height: number, channels: 1 | 3 | 4 = 3): sharp.Sharp {
  return sharp(Buffer.from(pixels), { raw: { width, height, channels } });
}

// ---- Hand-built BMPs: a writer independent of the reader under test. ----

interface BmpSpec {
  width: number;
  height: number;
  bpp: number;
  /** Packed bytes of each visual row, top row first, before padding. */
  rows: number[][];
  topDown?: boolean;
  compression?: number;
  headerSize?: 40 | 124;
  masks?: number[];
  palette?: number[][];
}

function makeBmp(s: BmpSpec): Buffer {
  const headerSize = s.headerSize ?? 40;
  const masksAfter = headerSize === 40 && s.masks ? s.masks.length * 4 : 0;
  const palette = s.palette ?? [];
  const stride = Math.ceil((s.width * s.bpp) / 32) * 4;
  const offset = 14 + headerSize + masksAfter + palette.length * 4;
  const buf = Buffer.alloc(offset + stride * s.height);
  buf.write('BM', 0, 'latin1');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(offset, 10);
  buf.writeUInt32LE(headerSize, 14);
  buf.writeInt32LE(s.width, 18);
  buf.writeInt32LE(s.topDown ? -s.height : s.height, 22);
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(s.bpp, 28);
  buf.writeUInt32LE(s.compression ?? 0, 30);
  buf.writeUInt32LE(stride * s.height, 34);
  buf.writeUInt32LE(palette.length, 46);
  (s.masks ?? []).forEach((m, i) => buf.writeUInt32LE(m >>> 0, 54 + 4 * i));
  palette.forEach(([r, g, b], i) => buf.set([b, g, r, 0], 14 + headerSize + masksAfter + 4 * i));
  s.rows.forEach((row, y) => buf.set(row, offset + (s.topDown ? y : s.height - 1 - y) * stride));
  return buf;
}

/** 3x2 test picture: red, green, blue / white, black, brown. */
const COLOURS = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0], [128, 64, 32]];
const EXPECTED = Uint8Array.from(COLOURS.flat());
const rowsOf = (perPixel: (c: number[], i: number) => number[]) =>
  [0, 1].map((y) => COLOURS.slice(3 * y, 3 * y + 3).flatMap((c, x) => perPixel(c, 3 * y + x)));
/** Packs palette indices MSB first. */
const packIndices = (indices: number[], bpp: number) => {
  const out = new Array(Math.ceil((indices.length * bpp) / 8)).fill(0);
  indices.forEach((v, i) => (out[Math.floor((i * bpp) / 8)] |= v << (8 - bpp - ((i * bpp) % 8))));
  return out;
};
const u16 = (v: number) => [v & 0xff, v >>> 8];
const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

describe('decoding', () => {
  test('the 24-bit V5 BMP equals the reference pixels', async () => {
    const img = await readImage(photo('tabby_cat_224.bmp'));
    expect([img.width, img.height]).toEqual([224, 224]);
    expect(Buffer.compare(img.data, reference('tabby_cat_224.rgb'))).toBe(0);
  });

  test('the PNG equals the reference pixels, from a path and from a Buffer', async () => {
    const expected = reference('cat_dog_224.rgb');
    const fromPath = await readImage(photo('cat_dog_224.png'));
    expect(Buffer.compare(fromPath.data, expected)).toBe(0);
    const fromBuffer = await readImage(fs.readFileSync(photo('cat_dog_224.png')));
    expect(Buffer.compare(fromBuffer.data, expected)).toBe(0);
  });

  test('JPEG photos decode to their sizes', async () => {
    for (const [name, w, h] of [['cat_dog.jpg', 640, 480], ['cats_and_dogs.jpg', 1200, 600]] as const) {
      const img = await readImage(photo(name));
      expect([img.width, img.height, img.data.length]).toEqual([w, h, w * h * 3]);
    }
  });

  test('EXIF orientation 6 turns the image upright', async () => {
    // 16x8, left half red, right half blue; orientation 6 shows it rotated 90 degrees clockwise.
    const rgb = Array.from({ length: 16 * 8 }, (_, i) => (i % 16 < 8 ? [255, 0, 0] : [0, 0, 255])).flat();
    const jpeg = await encode(rgb, 16, 8).jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toBuffer();
    const img = await readImage(jpeg);
    expect([img.width, img.height]).toEqual([8, 16]);
    const [r0, , b0] = pixel(img, 4, 2); // top half: was the left half
    const [r1, , b1] = pixel(img, 4, 13);
    expect(r0).toBeGreaterThan(200);
    expect(b0).toBeLessThan(50);
    expect(r1).toBeLessThan(50);
    expect(b1).toBeGreaterThan(200);
  });

  test('transparency is composited onto white and the alpha channel dropped', async () => {
    const png = await encode([255, 0, 0, 255, 0, 0, 255, 0, 0, 0, 0, 128], 3, 1, 4).png().toBuffer();
    const img = await readImage(png);
    expect(Array.from(img.data)).toEqual([255, 0, 0, 255, 255, 255, 127, 127, 127]);
  });

  test('greyscale becomes three equal channels', async () => {
    const png = await encode([0, 100, 200], 3, 1, 1).png().toBuffer();
    expect(Array.from((await readImage(png)).data)).toEqual([0, 0, 0, 100, 100, 100, 200, 200, 200]);
  });
});

describe('BMP variants', () => {
  const cases: [string, BmpSpec][] = [
    ['24-bit bottom-up', { width: 3, height: 2, bpp: 24, rows: rowsOf(([r, g, b]) => [b, g, r]) }],
    ['24-bit top-down', { width: 3, height: 2, bpp: 24, topDown: true, rows: rowsOf(([r, g, b]) => [b, g, r]) }],
    ['32-bit BI_RGB ignores the 4th byte', { width: 3, height: 2, bpp: 32, rows: rowsOf(([r, g, b]) => [b, g, r, 0x7f]) }],
    ...[8, 4, 1].map((bpp): [string, BmpSpec] => {
      // 1-bit can only hold two colours: use a palette of red and green and map the rest onto it.
      const palette = bpp === 1 ? [COLOURS[0], COLOURS[1]] : COLOURS;
      const indices = [0, 1].map((y) => [0, 1, 2].map((x) => (3 * y + x) % palette.length));
      return [`${bpp}-bit palette`, { width: 3, height: 2, bpp, palette, rows: indices.map((r) => packIndices(r, bpp)) }];
    }),
    ['32-bit bitfields, V5 header, zero alpha means opaque', {
      width: 3, height: 2, bpp: 32, compression: 3, headerSize: 124,
      masks: [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000],
      rows: rowsOf(([r, g, b]) => u32((r << 16) | (g << 8) | b)),
    }],
  ];
  test.each(cases)('%s', async (_name, spec) => {
    const img = await readImage(makeBmp(spec));
    expect([img.width, img.height]).toEqual([3, 2]);
    const expected = spec.bpp === 1 ? Uint8Array.from([0, 1, 0, 1, 0, 1].flatMap((i) => COLOURS[i])) : EXPECTED;
    expect(Array.from(img.data)).toEqual(Array.from(expected));
  });

  test('16-bit 5-6-5 bitfields widen to 8 bits', async () => {
    const bmp = makeBmp({
      width: 2, height: 1, bpp: 16, compression: 3, masks: [0xf800, 0x07e0, 0x001f],
      rows: [[...u16(0xf800 | 0x001f), ...u16((16 << 11) | (32 << 5) | 16)]],
    });
    // 31/31 -> 255; 16/31 -> 132; 32/63 -> 130.
    expect(Array.from((await readImage(bmp)).data)).toEqual([255, 0, 255, 132, 130, 132]);
  });

  test('32-bit alpha bitfields are composited onto white', async () => {
    const bmp = makeBmp({
      width: 3, height: 1, bpp: 32, compression: 3, headerSize: 124,
      masks: [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000],
      rows: [[...u32(0xffff0000), ...u32(0x00ff0000), ...u32(0x80ff0000)]],
    });
    expect(Array.from((await readImage(bmp)).data)).toEqual([255, 0, 0, 255, 255, 255, 255, 127, 127]);
  });

  test('RLE compression is refused by name', async () => {
    const bmp = makeBmp({ width: 3, height: 2, bpp: 8, compression: 1, palette: COLOURS, rows: [[0, 1, 2], [3, 4, 5]] });
    await expect(readImage(bmp)).rejects.toThrow(
      `image: buffer of ${bmp.length} bytes is not a readable image (bmp: unsupported compression 1 (RLE8); expected 0 (none) or 3 (bitfields))`,
    );
  });
});

describe('resize', () => {
  // 300x100: left third red, middle green, right third blue.
  const bands: Image = {
    width: 300,
    height: 100,
    data: Uint8Array.from(Array.from({ length: 300 * 100 }, (_, i) => COLOURS[Math.floor((i % 300) / 100)]).flat()),
  };

  test('cover scales to cover and keeps the centre', async () => {
    const img = await resizeImage(bands, { width: 100, height: 100, mode: 'cover', kernel: 'nearest' });
    expect([img.width, img.height]).toEqual([100, 100]);
    expect(new Set(Array.from({ length: 100 * 100 }, (_, i) => pixel(img, i % 100, Math.floor(i / 100)).join()))).toEqual(
      new Set(['0,255,0']),
    );
  });

  test('contain fits the whole image and pads with black', async () => {
    const img = await resizeImage(bands, { width: 90, height: 90, mode: 'contain', kernel: 'nearest' });
    expect([img.width, img.height]).toEqual([90, 90]);
    expect(pixel(img, 45, 0)).toEqual([0, 0, 0]);
    expect(pixel(img, 45, 89)).toEqual([0, 0, 0]);
    expect([pixel(img, 5, 45), pixel(img, 45, 45), pixel(img, 85, 45)]).toEqual([COLOURS[0], COLOURS[1], COLOURS[2]]);
  });

  test('squash fills the size exactly, keeping all content', async () => {
    const img = await resizeImage(bands, { width: 30, height: 60, mode: 'squash', kernel: 'nearest' });
    expect([img.width, img.height]).toEqual([30, 60]);
    expect([pixel(img, 2, 30), pixel(img, 15, 30), pixel(img, 27, 30)]).toEqual([COLOURS[0], COLOURS[1], COLOURS[2]]);
  });

  test('one side keeps the aspect ratio; none leaves the size', async () => {
    const half = await resizeImage(bands, { width: 150 });
    expect([half.width, half.height]).toEqual([150, 50]);
    expect(await resizeImage(bands, { width: 10, height: 10, mode: 'none' })).toBe(bands);
  });

  test('readImage resizes after decoding (contain pads a 4:3 photo top and bottom)', async () => {
    const img = await readImage(photo('cat_dog.jpg'), { resize: { width: 224, height: 224, mode: 'contain' } });
    expect([img.width, img.height]).toEqual([224, 224]);
    expect(img.data.subarray(0, 224 * 3 * 20).every((v) => v === 0)).toBe(true); // 28 rows of padding
    expect(img.data.subarray(224 * 3 * 204).every((v) => v === 0)).toBe(true);
  });

  test('bad resize options are named', async () => {
    await expect(readImage(photo('cat_dog.jpg'), { resize: { width: 0 } })).rejects.toThrow(
      'image: Expected integer between 1 and 16384 for width but received 0 of type number',
    );
    await expect(resizeImage(bands, { height: 10, mode: 'stretch' as 'cover' })).rejects.toThrow(
      "image: Expected one of 'squash', 'cover', 'contain', 'none' for mode but received 'stretch' of type string",
    );
  });
});

describe('writing', () => {
  const noise: Image = { width: 7, height: 5, data: Uint8Array.from({ length: 7 * 5 * 3 }, (_, i) => (i * 97 + 13) % 256) };

  test('PNG round-trips exactly', async () => {
    const file = path.join(tmp, 'noise.png');
    await writeImage(file, noise);
    const back = await readImage(file);
    expect([back.width, back.height]).toEqual([7, 5]);
    expect(Array.from(back.data)).toEqual(Array.from(noise.data));
  });

  test('JPEG and WebP (by option) write readable files of the same size', async () => {
    await writeImage(path.join(tmp, 'noise.jpg'), noise, { quality: 95 });
    await writeImage(path.join(tmp, 'noise.bin'), noise, { format: 'webp' });
    expect((await sharp(path.join(tmp, 'noise.jpg')).metadata()).format).toBe('jpeg');
    expect((await sharp(path.join(tmp, 'noise.bin')).metadata()).format).toBe('webp');
    const back = await readImage(path.join(tmp, 'noise.bin'));
    expect([back.width, back.height]).toEqual([7, 5]);
  });

  test('unknown extension, bad quality and a missing folder are errors', async () => {
    await expect(writeImage(path.join(tmp, 'x.gif'), noise)).rejects.toThrow(
      `image: cannot tell the format of '${path.join(tmp, 'x.gif')}' from its extension '.gif'; use .png, .jpg, .jpeg or .webp, or pass format`,
    );
    await expect(writeImage(path.join(tmp, 'x.jpg'), noise, { quality: 0 })).rejects.toThrow(
      'image: Expected integer between 1 and 100 for quality but received 0 of type number',
    );
    const nowhere = path.join(tmp, 'no', 'x.png');
    await expect(writeImage(nowhere, noise)).rejects.toThrow(`image: cannot write '${nowhere}': no such directory`);
  });
});

describe('tensor conversion', () => {
  test('imageToTensor gives [1,H,W,3] float 0..255, or [H,W,3] without batch', () => {
    const img: Image = { width: 2, height: 1, data: Uint8Array.from([0, 1, 2, 253, 254, 255]) };
    const t = imageToTensor(img);
    const u = imageToTensor(img, { batch: false });
    expect(t.shape).toEqual([1, 1, 2, 3]);
    expect(u.shape).toEqual([1, 2, 3]);
    expect(Array.from(t.data())).toEqual([0, 1, 2, 253, 254, 255]);
    expect(tensorToImage(u)).toEqual(img);
    t.dispose();
    u.dispose();
  });

  test('tensorToImage clamps and rounds, and names a wrong shape', () => {
    const t = Tensor.from(Float32Array.from([-5, 0.4, 1.6, 254.6, 300, NaN]), [1, 2, 3]);
    expect(Array.from(tensorToImage(t).data)).toEqual([0, 0, 2, 255, 255, 0]);
    const bad = Tensor.zeros([2, 4, 4, 3]);
    expect(() => tensorToImage(bad)).toThrow('image: expected a tensor of shape [H,W,3] or [1,H,W,3] but got [2,4,4,3]');
    t.dispose();
    bad.dispose();
  });
});

describe('pinned read errors', () => {
  /** A JPEG whose frame header claims 12000x12000: only metadata can be read, no pixels. */
  async function hugeJpeg(): Promise<Buffer> {
    const jpeg = Buffer.from(await encode([1, 2, 3], 1, 1).jpeg().toBuffer());
    for (let i = 2; i < jpeg.length; i += 2 + jpeg.readUInt16BE(i + 2)) {
      if (jpeg[i + 1] === 0xc0 || jpeg[i + 1] === 0xc2) {
        jpeg.writeUInt16BE(12000, i + 5);
        jpeg.writeUInt16BE(12000, i + 7);
        return jpeg;
      }
    }
    throw new Error('no SOF marker');
  }

  test('a missing file', async () => {
    const file = path.join(tmp, 'missing.jpg');
    await expect(readImage(file)).rejects.toThrow(`image: cannot read '${file}': no such file`);
  });

  test('a truncated JPEG', async () => {
    const file = path.join(tmp, 'truncated.jpg');
    fs.writeFileSync(file, fs.readFileSync(photo('cat_dog.jpg')).subarray(0, 20000));
    await expect(readImage(file)).rejects.toThrow(
      `image: '${file}' is not a readable image (VipsJpeg: premature end of JPEG image)`,
    );
  });

  test('a truncated BMP', async () => {
    const file = path.join(tmp, 'truncated.bmp');
    fs.writeFileSync(file, fs.readFileSync(photo('tabby_cat_224.bmp')).subarray(0, 50000));
    await expect(readImage(file)).rejects.toThrow(
      `image: '${file}' is not a readable image (bmp: truncated file (50000 bytes): the 224x224 24-bit pixel data ends at byte 150666)`,
    );
  });

  test('a text file named .png', async () => {
    const file = path.join(tmp, 'notes.png');
    fs.writeFileSync(file, 'these are notes, not pixels\n');
    await expect(readImage(file)).rejects.toThrow(
      `image: '${file}' is not a readable image (Input buffer contains unsupported image format)`,
    );
  });

  test('an image over maxPixels is refused from its header', async () => {
    await expect(readImage(await hugeJpeg())).rejects.toThrow(
      'image: 12000x12000 (144000000 pixels) exceeds maxPixels 100000000',
    );
    // A BMP header with no pixel data: the size check comes before the truncation check.
    const bmp = makeBmp({ width: 3, height: 2, bpp: 24, rows: [] }).subarray(0, 54);
    bmp.writeInt32LE(20000, 18);
    bmp.writeInt32LE(-10000, 22);
    await expect(readImage(bmp)).rejects.toThrow('image: 20000x10000 (200000000 pixels) exceeds maxPixels 100000000');
    await expect(readImage(photo('cat_dog.jpg'), { maxPixels: 100000 })).rejects.toThrow(
      'image: 640x480 (307200 pixels) exceeds maxPixels 100000',
    );
  });
});

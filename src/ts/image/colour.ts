// Colour transfer between images.
import { Image } from './io';

/** The result's luminance with the content's chroma (YIQ). */
export function keepColours(result: Image, content: Image): Image {
  const r = result.data;
  const c = content.data;
  const out = new Uint8ClampedArray(r.length);
  for (let i = 0; i < r.length; i += 3) {
    const y = 0.299 * r[i] + 0.587 * r[i + 1] + 0.114 * r[i + 2];
    const ci = 0.596 * c[i] - 0.274 * c[i + 1] - 0.322 * c[i + 2];
    const cq = 0.211 * c[i] - 0.523 * c[i + 1] + 0.312 * c[i + 2];
    out[i] = y + 0.956 * ci + 0.621 * cq;
    out[i + 1] = y - 0.272 * ci - 0.647 * cq;
    out[i + 2] = y - 1.106 * ci + 1.703 * cq;
  }
  return { width: result.width, height: result.height, data: new Uint8Array(out.buffer) };
}

// Image I/O: the public surface of src/ts/image (re-exported by src/ts/index.ts).
export { readImage, writeImage, resizeImage, imageToTensor, tensorToImage } from './io';
export type {
  Image,
  ImageFormat,
  ResizeMode,
  ResizeKernel,
  ImageResizeOptions,
  ReadImageOptions,
  WriteImageOptions,
  ImageToTensorOptions,
} from './io';
export { decodeBmp } from './bmp';
export type { BmpImage } from './bmp';

// Each command's own help: `eyecandy <command> --help` and `eyecandy help <command>`.
// The ranges and defaults are those the tasks check (src/ts/tasks/**); keep them in step.
// test/cli/help.test.ts fails when a command's parseArgs spec has an option this text lacks.

const COMMON_MODEL = `  -m, --model NAME|PATH  zoo name (vgg16, vgg19, vgg19-uint8, mobilenet-v1-0.25) or a path to a
                         .onnx, .tflite, TF.js model.json or Keras .h5. Default vgg16.
      --mirror DIR|URL   where the zoo's files are read from instead of the network (also
                         EYECANDY_MIRROR). Default: the network, cached in ~/.cache/eyecandy.`;

const MEMORY = `      --memory           at exit, print the peak resident memory and the native tensor bytes on
                         stderr. Default off.`;

const BACKEND = `      --backend B        cpu | cuda | auto (auto takes a GPU when one answers). Default cpu.`;

const TF32 = `      --tf32             with --backend cuda: convolutions and dense layers on TF32 tensor cores
                         (faster, about 1e-3 relative). Default off.`;

const HELP: Record<string, string> = {
  classify: `usage: eyecandy classify IMG... [options]

The top classes of each image (ImageNet's 1000 for the zoo models). Fixed size (default): the image
is squashed to the network's input square. --any-size: the network runs fully convolutionally over
the image with its aspect ratio kept, gives a class per window, and --out draws that class map.

options:
  -n, --top N            how many classes to print, integer 1..1001. Default 5.
      --json             print the results as JSON (one entry per image) instead of text.
      --any-size         keep the aspect ratio: classify every window of the class map. Default off.
      --size PX          pixels, 32..4096. Fixed size: the side of the square the image is squashed
                         to; any size: the shorter side. Default: the network's input size (224).
      --pooling P        any size only: window_union (each class ranked by its best window, so each
                         object keeps its classes) | mean_logits | max_softmax (one pooled vector).
                         Default window_union.
      --labels FILE      class names, one a line, one per output. Default: the model's own
                         (ImageNet's for 1000 or 1001 outputs).
  -o, --out DIR          any size only: write DIR/<image>-classmap.png, the class map with a legend.
${MEMORY}
${COMMON_MODEL}
${BACKEND}
${TF32}

example:
  eyecandy classify ../shared/images/photos/tabby_cat_224.bmp --top 3
  eyecandy classify photo.jpg --any-size --size 448 --out maps/ --model vgg19-uint8 --mirror ../shared`,

  locate: `usage: eyecandy locate IMG [options]

Where each object is and what it is: the saliency masks of the top classes are reduced to a few
principal masks; each sign (side) of a principal mask is a region, named by classifying it.

options:
  -k, --top-k N          classes whose masks enter the PCA, integer 1..100. Default 20.
  -c, --components N     principal masks to keep, integer 1..10, at most top-k − 1. Default 4.
  -n, --top N            labels per mask side, integer 1..100. Default 5.
      --size PX          the image's shorter side is scaled to this, pixels 32..4096. Default: the
                         network's input size (224).
      --blur SIGMA       Gaussian blur of each class mask, sigma in pixels at the network's scale,
                         0..64 (0: none). Default size/20.
      --threshold T      boxes and centroids cover a side's pixels at or above this fraction of its
                         maximum, 0..1. Default 0.5.
      --seed S           how a class is seeded on the class map: windows (windows where it is in the
                         top 5, by its probability) | softmax (every window by its probability) |
                         uniform. Default windows.
      --objective O      what a class back-propagates: logSoftmax (its own object stands out) |
                         logit (raw score). Default logSoftmax.
      --saliency S       features (gradient at the first stride-16 feature map: fast) | pixels
                         (gradient back to the image: sharper, about 4x slower). Default features.
      --side-view V      how a mask side is named: crop (the region around its peak, cropped and
                         scaled to the network's input) | features (the whole image's features
                         through the mask). Default crop.
      --pooling P        how the top-k classes are chosen from the class map: window_union |
                         mean_logits | max_softmax. Default window_union.
      --labels FILE      class names, one a line, one per output. Default: the model's own.
  -o, --out DIR          write the mask pictures (PNG) into DIR.
      --report FILE      write an HTML report (image, masks, boxes, classes) to FILE.
      --json             print the result as JSON instead of text.
${MEMORY}
${COMMON_MODEL}
${BACKEND}
${TF32}

example:
  eyecandy locate ../shared/images/photos/cat_dog.jpg --components 2 --report cat_dog.html`,

  dream: `usage: eyecandy dream IMG -o OUT [options]

Deep Dream: gradient ascent on the image to raise what chosen layers (or channels, or a class) see,
over several octaves (scales), the image cut into tiles so any size fits in memory.

options:
  -o, --output FILE      the dreamed image (.png, .jpg, .webp). Required.
  -l, --layer NAME       a layer whose L2 magnitude to raise; repeat for several (1..16). Default
                         block4_conv3 and block5_conv2 for VGG16/19, else the spatial layer 70% in.
      --channels L:I,J   only channels I, J... of layer L count, e.g. block4_conv2:12,97; repeat for
                         several layers. Default none.
      --class N          raise class N's logit (0..classes−1); octaves smaller than the network's
                         input are skipped. Default none.
      --octaves N        scales processed, integer 1..12. Default 4.
      --octave-scale S   size ratio between octaves, 1.1..2.0. Default 1.4.
      --steps N          gradient steps per octave, integer 1..1000. Default 10.
      --step-size S      step in pixel levels (of 0..255) per unit of mean |gradient|, 0.01..100.
                         Default 1.5.
      --jitter PX        largest random shift per step, pixels, integer 0..256. Default 32.
      --tile PX          largest tile (margin included) run through the network, integer 64..8192.
                         Default 512.
      --tile-margin PX   context a tile sees beyond the part it owns, integer 0..1024. Default: half
                         the deepest layer's receptive field (VGG block5_conv2: 96), seamless.
      --seed N           seed of the jitter, integer 0..4294967295. Default 0 (same result each run).
      --size PX          scale the input so its longer side is PX first. Default: as it is.
      --json             print a JSON summary instead of text.
${MEMORY}
${COMMON_MODEL}
${BACKEND}

example:
  eyecandy dream ../shared/images/photos/tabby_cat_224.bmp -o dream.png --octaves 3 --steps 8`,

  style: `usage: eyecandy style CONTENT STYLE... -o OUT [options]

Style transfer (Gatys et al.): an image optimised so its deep features match CONTENT and its Gram
matrices match the STYLE images, by L-BFGS (or Adam), coarse to fine over one or more scales.

options:
  -o, --output FILE      the result (.png, .jpg, .jpeg, .webp). Required.
      --size PX          longer side of the output, 16..4096. Default 256 (minutes on a CPU).
  -n, --iterations N[,N] iterations per scale, integer 1..100000: one for all or one per scale.
                         Default 150 at the first scale, 100 after.
      --scales A,B,...   longer sides to optimise at, increasing, the last the output size.
                         Default size/2,size for sizes of 128 and more, else size.
      --content-weight W weight of the content term, >= 0. Default 1.
      --style-weight W   weight of the style term, >= 0. Default 3 (clearly painted, recognisable).
      --tv-weight W      weight of the total-variation (smoothness) term, >= 0. Default 1.
      --style-blend W,.. weight of each style image, one per STYLE. Default all 1.
      --init I           start image: noise (seeded) | content | PATH of an image. Default noise.
      --seed N           seed of the noise init, integer 0..4294967295. Default 1.
      --optimizer O      lbfgs (fewest network evaluations) | adam. Default lbfgs.
      --learning-rate L  adam only: early steps move pixels by about L levels of 0..255, > 0.
                         Default 5.
      --preserve-colors  keep the content's colours (the result's luminance, content's chroma).
                         Default off.
      --save-every N     also write OUT-s<scale>-<iteration> every N iterations, integer >= 1.
      --json             print a JSON summary (losses, iterations, seconds) instead of text.
${MEMORY}
${COMMON_MODEL}
${BACKEND}
      --tf32             with --backend cuda: convolutions and Gram matrices on TF32 tensor cores
                         (faster, about 1e-3 relative). Default off.

example:
  eyecandy style ../shared/images/content/tubingen.jpg ../shared/images/style/starry_night.jpg -o styled.png --size 128`,

  models: `usage: eyecandy models list|fetch|verify|path [NAME...] [options]

The model zoo: vgg16, vgg19, vgg19-uint8, mobilenet-v1-0.25.

subcommands:
  list                   every zoo model, its format, whether it is cached (default subcommand).
  fetch NAME...          download (or copy from the mirror) and verify the models' files.
  verify NAME...         check the cached files' SHA-256; exit 1 when one is missing or corrupt.
  path NAME              print where the model's first file is cached.

options:
      --json             list: print JSON instead of text.
      --mirror DIR|URL   read the zoo's files from this folder or base URL (also EYECANDY_MIRROR).
                         Default: the network.
      --cache-dir DIR    where files are cached. Default EYECANDY_CACHE or ~/.cache/eyecandy.

example:
  eyecandy models fetch vgg19-uint8 --mirror ../shared`,

  serve: `usage: eyecandy serve [options]

The HTTP rendering server: POST /v1/classify (synchronous, dynamically batched), the job API
(POST /v1/jobs, GET /v1/jobs/:id, /events as Server-Sent Events, /result, DELETE to cancel) for
classify, locate, dream and style, /healthz, /readyz, /metrics (Prometheus), /openapi.json and a web
page at /. Jobs run one at a time per device from a bounded in-process queue, or, with --queue, from
a Redis queue served by any number of \`eyecandy worker\` processes.

options:
      --host H           address to listen on. Default 127.0.0.1 (loopback only).
  -p, --port N           port, 0 for any free one. Default 8080.
${COMMON_MODEL}
      --cache-dir DIR    where downloaded models are kept. Default ~/.cache/eyecandy.
${BACKEND}
      --queue URL        redis://HOST:PORT: enqueue jobs on Redis (BullMQ) for workers instead of
                         running them here. Default: the embedded queue.
      --shared-dir DIR   with --queue: the folder every node reads uploads and result images from
                         (results' JSON stays in Redis). Default: a folder under the system's temp.
      --queue-size N     jobs waiting or running before submits get 429 with Retry-After. Default 16.
      --job-timeout S    seconds a job may run before it fails with a time-out. Default 600.
      --result-ttl S     seconds finished jobs and their results are kept. Default 3600.
      --max-upload-mb N  largest uploaded file, MiB (413 beyond). Default 20.
      --max-pixels N     largest decoded image, width × height (413 beyond: decompression bombs).
                         Default 40000000.
      --api-key KEY      require this key (header x-api-key or Authorization: Bearer), repeatable;
                         also EYECANDY_API_KEYS=k1,k2. Default: no key needed.
      --cors-origin O    allow browsers from this origin. Default: CORS off.
      --max-batch N      most classify requests run as one batched forward. Default 8.
      --batch-delay-ms MS  how long a classify request waits for others to batch with. Default 5.
      --grace S          on SIGTERM/SIGINT: seconds running jobs get to finish before the port
                         closes. Default 30.
      --quiet            no request log. Default: structured (pino) logs on stdout.

example:
  eyecandy serve --port 8080 --model vgg19-uint8
  eyecandy serve --queue redis://127.0.0.1:6379 --shared-dir /mnt/eyecandy`,

  worker: `usage: eyecandy worker --queue redis://HOST:PORT [options]

Takes jobs from the Redis queue that \`eyecandy serve --queue\` fills, one at a time, and reports
progress and results back through it. Run one per GPU or CPU machine; a worker that dies mid-job
has its job retried by another.

options:
      --queue URL        redis://HOST:PORT of the queue (required).
${COMMON_MODEL}
      --cache-dir DIR    where downloaded models are kept. Default ~/.cache/eyecandy.
${BACKEND}
      --shared-dir DIR   the folder shared with the serve nodes (uploads and result images).
      --job-timeout S    seconds a job may run before it fails with a time-out. Default 600.
      --max-pixels N     largest decoded image, width × height. Default 40000000.
      --lock-ms MS       how long a taken job stays locked without a heartbeat before another worker
                         may take it over (a dead worker's job). Default 30000.
      --grace S          on SIGTERM/SIGINT: seconds the running job gets to finish. Default 30.

example:
  eyecandy worker --queue redis://127.0.0.1:6379 --shared-dir /mnt/eyecandy --model vgg19-uint8`,

  doctor: `usage: eyecandy doctor [options]

What this installation can do: version, the addon loaded (prebuilt or built here), backends compiled
and available (CUDA device or "no CUDA device"), the CPU's SIMD level, threads.

options:
      --json             print the report as JSON instead of text.

example:
  eyecandy doctor`,
};

/** The commands that have their own help, in the order the global usage lists them. */
export const HELP_COMMANDS = Object.keys(HELP);

/** `command`'s full help text, or undefined for a command without one. */
export function commandHelp(command: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(HELP, command) ? HELP[command] : undefined;
}

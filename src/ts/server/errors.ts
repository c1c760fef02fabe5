// One JSON error shape for every refusal and failure the server answers with:
//   { "error": { "status": 413, "code": "image_too_large", "message": "..." } }

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface ErrorBody {
  error: { status: number; code: string; message: string };
}

export function errorBody(status: number, code: string, message: string): ErrorBody {
  return { error: { status, code, message } };
}

/** A task's own option check failed (validate.ts messages): a 400 naming the option. */
export function badOption(err: unknown): HttpError {
  return new HttpError(400, 'invalid_option', (err as Error).message);
}

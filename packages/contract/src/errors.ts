/** The one error shape of both tiers: `{ error: { code, message } }` with a stable code. */
export const ERROR_STATUS = {
  bad_request: 400,
  invalid_key: 400,
  unknown_disk: 400,
  invalid_metadata: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  offset_mismatch: 409,
  gone: 410,
  unsupported_version: 412,
  too_large: 413,
  unsupported_type: 415,
  range_not_satisfiable: 416,
  checksum_mismatch: 422,
  size_mismatch: 422,
  rate_limited: 429,
  chunk_checksum_mismatch: 460,
  client_closed: 499,
  internal: 500,
  not_implemented: 501,
  bad_gateway: 502,
  unavailable: 503,
  disk_full: 507,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

export class DepotError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "DepotError";
    this.status = ERROR_STATUS[code];
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

export function isErrorBody(value: unknown): value is ErrorBody {
  const error = (value as ErrorBody | null)?.error;
  return typeof error?.code === "string" && typeof error.message === "string";
}

/** The kind of bucket a request was counted in. */
export type BucketKind = 'ip' | 'user' | 'key'

/** `request.rateLimit`: the decision for this request. */
export interface RateLimitDecision {
  /** False when the request was (or, in dry-run, would have been) denied. */
  allowed: boolean
  /** The limit of the deciding rate (for several windows: the most restrictive one). */
  limit: number
  /** Cost units left in that bucket; never negative. */
  remaining: number
  /** Epoch ms at which, with no further traffic, the bucket is fully available again. */
  resetMs: number
  /** Exact ms until the same request would be allowed; 0 when allowed. */
  retryAfterMs: number
  /** Which bucket decided: the client IP, the user, or the route's `key`. */
  bucket: BucketKind
  /** The deciding rate as declared, for example `'10/min'`. */
  rate: string
}

/** What `errorResponseBuilder` and `onExceeded` receive about a denial. */
export interface LimitContext extends RateLimitDecision {
  /** Always 429. */
  statusCode: number
  /** `Retry-After` in whole seconds, rounded up. */
  retryAfter: number
  /** A human phrase for `retryAfter`, such as `'1 second'` or `'12 seconds'`. */
  after: string
  /** The route, for example `'POST /upload'`, or the group name. */
  route: string
  /** True when the limit is in dry-run mode (the request passes anyway). */
  dryRun: boolean
}

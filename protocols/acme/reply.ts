/** What a handler answers; the router adds Replay-Nonce, Link rel="index" and caching headers. */
export interface AcmeReply {
  status?: number;
  json?: unknown;
  /** Non-JSON bodies (certificate chains). */
  body?: string;
  contentType?: string;
  location?: string;
  links?: Array<{ url: string; rel: string }>;
  retryAfterSeconds?: number;
}

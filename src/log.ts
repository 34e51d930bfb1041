import { pino, type DestinationStream, type Logger } from "pino";

/**
 * Paths redacted from every log line. eatr never logs secrets on purpose; these catch mistakes.
 * pino needs each path spelled out (a `**` wildcard silently redacts nothing).
 */
export const REDACT_PATHS = [
  "token",
  "authorizationToken",
  "password",
  "secretAccessKey",
  "sessionToken",
  "credentials",
  "data",
  "stringData",
  "secret.data",
  "secret.stringData",
  "*.token",
  "*.authorizationToken",
  "*.password",
  "*.secretAccessKey",
  "*.sessionToken",
  "*.credentials",
  "*.data",
  'data[".dockerconfigjson"]',
  "aws_secret_access_key",
  "aws_session_token",
  "headers.authorization",
  "*.headers.authorization",
];

/** An error reduced to what is safe and useful in a log line: type, message, HTTP status, cause chain. */
export function serializeError(err: unknown, depth = 0): unknown {
  if (!(err instanceof Error)) return typeof err === "string" ? err : String(err);
  const e = err as Error & { code?: unknown; statusCode?: unknown; $metadata?: { httpStatusCode?: number } };
  const out: Record<string, unknown> = { type: e.name, message: e.message };
  const status = typeof e.code === "number" ? e.code : (e.statusCode ?? e.$metadata?.httpStatusCode);
  if (status !== undefined) out.status = status;
  if (e.cause !== undefined && depth < 3) out.cause = serializeError(e.cause, depth + 1);
  return out;
}

/** The seed's verbosity: 0–5 = info, 6 and above = debug. */
export function levelForVerbosity(verbosity: number): "info" | "debug" {
  return verbosity >= 6 ? "debug" : "info";
}

/** JSON logs to stdout (or the given stream), with redaction and the safe error serializer. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { name: "eatr" },
      redact: { paths: REDACT_PATHS, censor: "[REDACTED]" },
      serializers: { err: (e: unknown) => serializeError(e) },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/**
 * Credentials that users write into settings by mistake (a password in a URL, a presigned query string)
 * are never echoed back in an error message.
 */

/** A query parameter name that carries a credential: X-Amz-Credential/Signature/Security-Token, token, … */
const CREDENTIAL_PARAM = /token|passw|pwd|secret|signature|credential|auth|session|key|sig$/i;

/** True when a URL query parameter of this name carries a credential. */
export function isCredentialParam(name: string): boolean {
  return CREDENTIAL_PARAM.test(name);
}

const REDACTED = "[redacted]";
/** The user info of a URL inside a message: `//user:password@`, up to the last `@` of that word. */
const USER_INFO = /\/\/[^\s"']*@/g;
/** `user:password@host` without a scheme, at the start of a word. */
const BARE_USER_INFO = /(^|[\s"'=])[^\s/"'@]*:(?!\/\/)[^\s"']*@/g;
/** `name=value` in a query string (after `?`, `&` or `;`). */
const QUERY_PARAM = /([?&;])([^=&#\s"']+)=([^&#\s"']*)/g;

/**
 * Replaces the user info of any URL in a message line (`https://user:pw@host` -> `https://[redacted]@host`)
 * and the value of every credential-like query parameter (`?X-Amz-Signature=…`, `&token=…`) by
 * "[redacted]". Everything else is kept, so the message still shows what was wrong. Idempotent.
 */
export function redactCredentials(text: string): string {
  return text
    .replace(USER_INFO, `//${REDACTED}@`)
    .replace(BARE_USER_INFO, (_match, before: string) => `${before}${REDACTED}@`)
    .replace(QUERY_PARAM, (match, sep: string, name: string) =>
      isCredentialParam(name) ? `${sep}${name}=${REDACTED}` : match,
    );
}

/**
 * redactCredentials for a string that is one value as written (a flag's text): a user info is redacted up
 * to the last `@`, even across spaces or quotes, since a password may hold any character.
 */
export function redactValue(value: string): string {
  const start = value.indexOf("//");
  const at = value.lastIndexOf("@");
  const masked = start >= 0 && at > start ? `${value.slice(0, start)}//${REDACTED}${value.slice(at)}` : value;
  return redactCredentials(masked);
}

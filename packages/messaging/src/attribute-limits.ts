/**
 * Pub/Sub's limits on message attributes. Pub/Sub refuses a publish call that breaks one (400
 * INVALID_ARGUMENT, for the whole call); the emulator accepts anything, so the publisher checks
 * them itself and a message over a limit fails locally as it would in production.
 */
const maxAttributes = 100;
const maxKeyBytes = 256;
const maxValueBytes = 1024;

/** What is wrong with these attributes for Pub/Sub, or undefined when nothing is. */
export function attributeLimitViolation(attributes: Record<string, string>): string | undefined {
  const entries = Object.entries(attributes);
  if (entries.length > maxAttributes) {
    return `${entries.length} attributes (Pub/Sub allows ${maxAttributes})`;
  }
  for (const [key, value] of entries) {
    const keyBytes = Buffer.byteLength(key);
    if (keyBytes > maxKeyBytes) {
      return `attribute ${key.slice(0, 40)}…: key of ${keyBytes} bytes (Pub/Sub allows ${maxKeyBytes})`;
    }
    const valueBytes = Buffer.byteLength(value);
    if (valueBytes > maxValueBytes) {
      return `attribute ${key}: value of ${valueBytes} bytes (Pub/Sub allows ${maxValueBytes})`;
    }
  }
  return undefined;
}

const ellipsis = '…';

/**
 * Free text made fit for an attribute value: at most 1024 bytes of UTF-8 (Pub/Sub counts
 * bytes, not characters), cut at a character boundary and ended with '…' when cut.
 */
export function attributeValue(text: string): string {
  if (Buffer.byteLength(text) <= maxValueBytes) return text;
  const room = maxValueBytes - Buffer.byteLength(ellipsis);
  let bytes = 0;
  let end = 0;
  // By code point, so that a surrogate pair is never split.
  for (const character of text) {
    const size = Buffer.byteLength(character);
    if (bytes + size > room) break;
    bytes += size;
    end += character.length;
  }
  return text.slice(0, end) + ellipsis;
}

/** An OrderPlaced of the Python reference service, field for field (its dataclass). */
export interface PythonOrderPlaced {
  event_id: string;
  /** `datetime.utcnow()`: UTC, with microseconds (here the milliseconds of the Date). */
  occurred_at: Date;
  correlation_id: string | null;
  order_id: string;
  customer_id: string;
  /** A Python float, in major units. */
  total_amount: number;
}

/**
 * The message a producer of the Python reference publishes for an OrderPlaced, byte for byte:
 * `json.dumps(asdict(event), default=str)` (separators ", " and ": ", non-ASCII escaped,
 * floats as `repr`, `str(datetime)` without a zone), attributes `event_type` and
 * `correlation_id` (empty when None), nothing else. Tests stand in for such a producer with it.
 */
export function pythonReferenceOrderPlaced(event: PythonOrderPlaced): {
  data: Buffer;
  attributes: Record<string, string>;
} {
  const fields: [string, string][] = [
    ['event_id', pythonString(event.event_id)],
    ['occurred_at', pythonString(pythonDatetime(event.occurred_at))],
    ['correlation_id', event.correlation_id === null ? 'null' : pythonString(event.correlation_id)],
    ['order_id', pythonString(event.order_id)],
    ['customer_id', pythonString(event.customer_id)],
    ['total_amount', pythonFloat(event.total_amount)],
  ];
  const json = `{${fields.map(([key, value]) => `${pythonString(key)}: ${value}`).join(', ')}}`;
  return {
    data: Buffer.from(json, 'utf8'),
    attributes: { event_type: 'OrderPlaced', correlation_id: event.correlation_id ?? '' },
  };
}

/** json.dumps of a str: ensure_ascii escapes everything outside ' '..'~' as \uxxxx. */
function pythonString(text: string): string {
  return JSON.stringify(text).replace(
    /[\u007f-\uffff]/g,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** str(datetime): "2026-12-02 22:35:55.123000", the fraction left out when it is zero. */
function pythonDatetime(date: Date): string {
  const [day, time] = date.toISOString().replace('Z', '').split('T') as [string, string];
  const [seconds, millis] = time.split('.') as [string, string];
  return millis === '000' ? `${day} ${seconds}` : `${day} ${seconds}.${millis}000`;
}

/**
 * repr(float): the shortest digits that round-trip (as JavaScript's), spelled Python's way:
 * always a '.0' or a fraction, and an exponent ("1e+16", "1.5e-05") below 1e-4 or from 1e16.
 */
function pythonFloat(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  const sign = value < 0 || Object.is(value, -0) ? '-' : '';
  const [mantissa, exponent] = Math.abs(value).toExponential().split('e') as [string, string];
  const digits = mantissa.replace('.', '');
  const point = Number(exponent) + 1; // digits before the decimal point
  if (point > 16 || point < -3) {
    const fraction = digits.length > 1 ? `.${digits.slice(1)}` : '';
    const power = Number(exponent);
    const powerDigits = String(Math.abs(power)).padStart(2, '0');
    return `${sign}${digits[0]}${fraction}e${power < 0 ? '-' : '+'}${powerDigits}`;
  }
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}.0`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

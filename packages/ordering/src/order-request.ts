import { currencySchema, quantitySchema, skuSchema } from '@orders/events';
import { type FieldIssue, ForbiddenError, ValidationError } from '@orders/runtime';
import { z } from 'zod';

export interface OrderRequest {
  /** The authenticated caller's: a body may only repeat it. */
  customerId: string;
  items: { sku: string; quantity: number }[];
  currency: string;
}

// Built once per limit: zod compiles a schema on its first parse, and building one per
// request cost more CPU than the rest of the validation.
const schemas = new Map<number, ReturnType<typeof buildOrderRequestSchema>>();

function orderRequestSchema(maxItems: number) {
  let schema = schemas.get(maxItems);
  if (!schema) {
    schema = buildOrderRequestSchema(maxItems);
    schemas.set(maxItems, schema);
  }
  return schema;
}

function buildOrderRequestSchema(maxItems: number) {
  return z.strictObject({
    customerId: z
      .string()
      .trim()
      .min(1)
      .max(200)
      // PostgreSQL text cannot hold NUL, nor jsonb a lone surrogate: refuse them here (400)
      // rather than fail the insert (500) or store U+FFFD instead of what was sent.
      .regex(/^[^\p{Cc}\p{Cs}]*$/u, 'must be well-formed Unicode text without control characters')
      .optional(),
    items: z
      .array(z.strictObject({ sku: skuSchema, quantity: quantitySchema }))
      .min(1, 'must hold at least one item')
      .max(maxItems, `must hold at most ${maxItems} items`),
    currency: currencySchema,
  });
}

export interface OrderRequestLimits {
  maxItems: number;
  /** Most units the order may hold, its lines together. */
  maxQuantity: number;
  /** The authenticated caller, for whom the order is placed. */
  customerId: string;
}

/**
 * Checks the shape of a `POST /orders` body and names every field at fault: unknown
 * fields, wrong types, a quantity that is not a positive integer, too many items or units,
 * the same sku twice. Skus are checked against the catalog later, by `placeOrder`. The order
 * is the caller's: a `customerId` in the body may only name the caller.
 * @throws ValidationError
 * @throws ForbiddenError when the body names another customer
 */
export function parseOrderRequest(
  body: unknown,
  { maxItems, maxQuantity, customerId }: OrderRequestLimits,
): OrderRequest {
  const result = orderRequestSchema(maxItems).safeParse(body);
  if (!result.success) {
    // One issue per field: zod may add a length issue to a value of the wrong type.
    const issues = result.error.issues.flatMap(toFieldIssues);
    throw new ValidationError(
      issues.filter(
        (issue, i) => issues.findIndex((other) => other.pointer === issue.pointer) === i,
      ),
    );
  }

  const firstIndex = new Map<string, number>();
  const duplicates: FieldIssue[] = [];
  result.data.items.forEach(({ sku }, index) => {
    const first = firstIndex.get(sku);
    if (first === undefined) firstIndex.set(sku, index);
    else
      duplicates.push({
        pointer: `/items/${index}/sku`,
        detail: `duplicate sku ${sku}, also at /items/${first}/sku`,
      });
  });
  if (duplicates.length > 0) throw new ValidationError(duplicates);

  const units = result.data.items.reduce((sum, item) => sum + item.quantity, 0);
  if (units > maxQuantity) {
    throw new ValidationError([
      {
        pointer: '/items',
        detail: `holds ${units} units; an order may hold at most ${maxQuantity}`,
      },
    ]);
  }
  if (result.data.customerId !== undefined && result.data.customerId !== customerId) {
    throw new ForbiddenError(
      'an order is placed for the authenticated customer only',
      'customer_mismatch',
      [{ pointer: '/customerId', detail: 'must be absent or name the authenticated customer' }],
    );
  }
  return { ...result.data, customerId };
}

function toFieldIssues(issue: z.core.$ZodIssue): (FieldIssue & { pointer: string })[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      pointer: jsonPointer([...issue.path, key]),
      detail: 'unknown field',
    }));
  }
  return [{ pointer: jsonPointer(issue.path), detail: issue.message }];
}

/** RFC 6901: `/items/0/quantity`; the whole body is the empty pointer. */
function jsonPointer(path: readonly PropertyKey[]): string {
  return path
    .map((part) => `/${String(part).replaceAll('~', '~0').replaceAll('/', '~1')}`)
    .join('');
}

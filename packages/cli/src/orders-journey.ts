import type { Database, OrderStatus } from '@orders/db';
import { type SandboxLedgerTables, sandboxLedgerExists } from '@orders/payments';
import type { Kysely } from 'kysely';
import { findOrder } from './order-record';
import { findSagaHistory, type SagaHistory } from './saga-history';

/** What the order database holds of one order: `pnpm orders show` adds dead letters and analytics. */
export interface OrderRecords {
  order: {
    orderId: string;
    customerId: string;
    status: OrderStatus;
    cancelReason: string | null;
    totalMinor: number;
    currency: string;
    correlationId: string;
    createdAt: string;
    updatedAt: string;
    items: { sku: string; quantity: number; unitPriceMinor: number }[];
  };
  /** Undefined when no saga started for it (its OrderPlaced has not reached the saga). */
  saga: SagaHistory | undefined;
  /** The payment service's records of it (`payments`). */
  payments: {
    paymentId: string;
    status: string;
    amountMinor: number;
    currency: string;
    providerRef: string | null;
    failureReason: string | null;
    refundId: string | null;
    createdAt: string;
    updatedAt: string;
  }[];
  /** The sandbox provider's ledger rows for it; null where the sandbox never ran (a real provider's are on its side). */
  providerOperations:
    | {
        kind: string;
        outcome: string;
        amountMinor: number;
        currency: string;
        declineCode: string | null;
        providerRef: string;
        at: string;
      }[]
    | null;
}

/**
 * Order `orderId` and everything the order database holds of it, each part as its owner
 * wrote it: the order, its payments and ledger in one snapshot, then its saga (in a snapshot
 * of its own, as `sagas show` reads it); undefined when there is no such order.
 */
export async function findOrderRecords(
  db: Kysely<Database>,
  { orderId, sagaType }: { orderId: string; sagaType: string },
): Promise<OrderRecords | undefined> {
  const records = await db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const order = await findOrder(trx, orderId);
      if (!order) return undefined;
      const items = await trx
        .selectFrom('order_items')
        .select(['sku', 'quantity', 'unit_price_minor'])
        .where('order_id', '=', orderId)
        .orderBy('sku')
        .execute();
      const payments = await trx
        .selectFrom('payments')
        .selectAll()
        .where('order_id', '=', orderId)
        .orderBy('created_at')
        .execute();
      const ledger = trx as unknown as Kysely<SandboxLedgerTables>;
      const operations = (await sandboxLedgerExists(trx))
        ? await ledger
            .selectFrom('sandbox_provider_operations')
            .selectAll()
            .where('order_id', '=', orderId)
            .orderBy('created_at')
            .execute()
        : null;
      return {
        order: {
          ...order,
          createdAt: order.createdAt.toISOString(),
          updatedAt: order.updatedAt.toISOString(),
          items: items.map((item) => ({
            sku: item.sku,
            quantity: item.quantity,
            unitPriceMinor: item.unit_price_minor,
          })),
        },
        payments: payments.map((payment) => ({
          paymentId: payment.payment_id,
          status: payment.status,
          amountMinor: payment.amount_minor,
          currency: payment.currency,
          providerRef: payment.provider_ref,
          failureReason: payment.failure_reason,
          refundId: payment.refund_id,
          createdAt: payment.created_at.toISOString(),
          updatedAt: payment.updated_at.toISOString(),
        })),
        providerOperations:
          operations?.map((operation) => ({
            kind: operation.kind,
            outcome: operation.outcome,
            amountMinor: operation.amount_minor,
            currency: operation.currency,
            declineCode: operation.decline_code,
            providerRef: operation.provider_ref,
            at: operation.created_at.toISOString(),
          })) ?? null,
      };
    });
  return records && { ...records, saga: await findSagaHistory(db, { type: sagaType, orderId }) };
}

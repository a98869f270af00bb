import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { sagaDiagram } from '@orders/saga-engine';
import { createOrderSaga } from './order-saga';

const architecture = join(__dirname, '../../../docs/architecture.md');
const saga = createOrderSaga({ paymentTimeoutMs: 1, refundTimeoutMs: 1, maxRefundRequests: 1 });

describe('the order saga diagram in docs/architecture.md', () => {
  it('is the one generated from the definition', () => {
    const doc = readFileSync(architecture, 'utf8');
    const block =
      /<!-- saga-diagram:[^\n]*-->\n```mermaid\n([\s\S]*?)\n```\n<!-- \/saga-diagram -->/.exec(doc);
    expect(block?.[1]).toBe(sagaDiagram(saga.transitions));
  });

  it('draws every legal move, from the start and to the end', () => {
    const diagram = sagaDiagram(saga.transitions).split('\n');
    expect(diagram).toContain('    [*] --> RESERVING_STOCK');
    expect(diagram).toContain('    NEEDS_ATTENTION --> CANCELLED');
    expect(diagram).toContain('    CONFIRMED --> [*]');
    const moves = Object.values(saga.transitions).flat().length;
    expect(diagram.filter((line) => line.includes('-->'))).toHaveLength(moves + 1);
  });
});

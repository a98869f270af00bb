import { NEW } from './saga';

/**
 * The saga's legal transitions as a Mermaid state diagram: `[*]` is the start (NEW) and the
 * end (a status with no way out). Generated from the definition, so the diagram in the docs
 * cannot drift from the code (a test compares them).
 */
export function sagaDiagram(transitions: Readonly<Record<string, readonly string[]>>): string {
  const node = (status: string) => (status === NEW ? '[*]' : status);
  const lines = ['stateDiagram-v2'];
  for (const [from, targets] of Object.entries(transitions)) {
    for (const to of targets) lines.push(`    ${node(from)} --> ${node(to)}`);
  }
  for (const [from, targets] of Object.entries(transitions)) {
    if (from !== NEW && targets.length === 0) lines.push(`    ${from} --> [*]`);
  }
  return lines.join('\n');
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { topics } from '@orders/events';
import { functions } from './deployed-functions';

const root = join(__dirname, '..', '..', '..');

describe('the functions as deployed', () => {
  it('registers in each function the entry point deployed, with the trigger it is deployed with', () => {
    for (const [name, { entryPoint, trigger }] of Object.entries(functions)) {
      const source = readFileSync(join(root, 'functions', name, 'src', 'index.ts'), 'utf8');
      const registered = [...source.matchAll(/functions\.(http|cloudEvent)\(\s*'([^']+)'/g)];
      expect(registered.map(([, kind, point]) => ({ kind, point }))).toEqual([
        { kind: trigger.kind === 'http' ? 'http' : 'cloudEvent', point: entryPoint },
      ]);
    }
  });

  it('gives every topic a consumer function triggered by that topic', () => {
    for (const [topic, { consumer }] of Object.entries(topics)) {
      expect(functions[consumer].trigger).toEqual({ kind: 'topic', topic });
    }
  });
});

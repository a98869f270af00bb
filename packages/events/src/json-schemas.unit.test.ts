import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { catalog } from './catalog';
import { eventJsonSchemas } from './json-schemas';

describe('eventJsonSchemas', () => {
  const schemas = eventJsonSchemas();

  it('has one schema per (type, version) of the catalog', () => {
    const expected = Object.entries(catalog).flatMap(([type, { schemas }]) =>
      Object.keys(schemas).map((version) => `${type}.v${version}`),
    );
    expect(Object.keys(schemas).sort()).toEqual(expected.sort());
  });

  it('describes the envelope, the literal type and version, and money as integers', () => {
    const placed = schemas['OrderPlaced.v2'] as {
      required: string[];
      properties: { type: object; data: { properties: { totalMinor: { type: string } } } };
    };
    expect(placed.required).toEqual(
      expect.arrayContaining(['id', 'type', 'version', 'data', 'correlationId']),
    );
    expect(placed.properties.type).toMatchObject({ const: 'OrderPlaced' });
    expect(placed.properties.data.properties.totalMinor.type).toBe('integer');
  });

  it('matches the committed files in schemas/ (run `pnpm generate` after changing an event)', () => {
    const folder = join(__dirname, '..', 'schemas');
    const committed = Object.fromEntries(
      readdirSync(folder).map((file) => [
        file.replace(/\.json$/, ''),
        JSON.parse(readFileSync(join(folder, file), 'utf8')),
      ]),
    );
    expect(committed).toEqual(JSON.parse(JSON.stringify(schemas)));
  });
});

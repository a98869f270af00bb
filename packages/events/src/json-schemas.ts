import { z } from 'zod';
import { catalog, type EventType } from './catalog';
import { envelopeSchema } from './envelope';

/** A JSON Schema (draft 2020-12) of the whole envelope for every (type, version). */
export function eventJsonSchemas(): Record<string, object> {
  const schemas: Record<string, object> = {};
  for (const [type, { schemas: versions }] of Object.entries(catalog)) {
    for (const [version, data] of Object.entries(versions as Record<string, z.ZodType>)) {
      const envelope = envelopeSchema.extend({
        type: z.literal(type as EventType),
        version: z.literal(Number(version)),
        data,
      });
      schemas[`${type}.v${version}`] = {
        $id: `https://schemas.orders.example/events/${type}.v${version}.json`,
        title: `${type} v${version}`,
        ...z.toJSONSchema(envelope, { io: 'input' }),
      };
    }
  }
  return schemas;
}

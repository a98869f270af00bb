import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { applicationDefaultCredentials } from '@orders/platform';
import { type GoogleApiDouble, startGoogleApiDouble } from './google-api-double';

let double: GoogleApiDouble;
beforeAll(async () => {
  double = await startGoogleApiDouble();
});
beforeEach(() => double.reset());
afterAll(() => double?.stop());

const scope = 'https://www.googleapis.com/auth/bigquery.insertdata';

describe('applicationDefaultCredentials on the metadata server (GCE_METADATA_HOST)', () => {
  it("authorizes with the metadata server's token, read once for many calls at once and after", async () => {
    const authorize = applicationDefaultCredentials(scope, {
      GCE_METADATA_HOST: double.metadataHost,
    });
    const headers = await Promise.all([authorize(), authorize(), authorize()]);
    await authorize();

    expect(headers).toEqual(
      Array.from({ length: 3 }, () => ({ authorization: `Bearer ${double.accessToken}` })),
    );
    expect(double.tokensIssued).toBe(1);
  });

  it('fails with the answer of an address that gives no token, and asks again next time', async () => {
    // Not the metadata server's root: the double answers as BigQuery would, 401.
    const authorize = applicationDefaultCredentials(scope, {
      GCE_METADATA_HOST: `${double.metadataHost}/not-metadata`,
    });
    await expect(authorize()).rejects.toThrow(/the metadata server answered 401 for a token/);
    await expect(authorize()).rejects.toThrow(/answered 401/);
    expect(double.requests).toHaveLength(2);
    expect(double.tokensIssued).toBe(0);
  });
});

describe('the double of BigQuery', () => {
  it('refuses a call without the token the metadata server issued, and stores no row', async () => {
    const response = await fetch(
      `${double.bigQueryEndpoint}/bigquery/v2/projects/p/datasets/d/tables/t/insertAll`,
      {
        method: 'POST',
        headers: { authorization: 'Bearer forged', 'content-type': 'application/json' },
        body: JSON.stringify({ rows: [{ insertId: 'e-1', json: { event_id: 'e-1' } }] }),
      },
    );
    expect(response.status).toBe(401);
    expect(double.inserted).toEqual([]);
  });
});

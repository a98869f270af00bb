import { httpCalls, parseJsonObject } from './http-calls';

/** Headers that authorize one call to a Google API. */
export type Authorize = () => Promise<Record<string, string>>;

/** google-auth-library's default address of the metadata server. */
const metadataServer = '169.254.169.254';
/** A token is refreshed this long before it expires, as google-auth-library does. */
const refreshBeforeExpiryMs = 5 * 60_000;

/**
 * Authorization headers from Application Default Credentials for `scope`.
 *
 * Where they can only be the metadata server's (no key file named by
 * GOOGLE_APPLICATION_CREDENTIALS, and on Cloud Run, K_SERVICE, or given the server's address,
 * GCE_METADATA_HOST or GCE_METADATA_IP, as google-auth-library honours them), the token is
 * read from it with one GET, kept until 5 minutes before it expires, one refresh shared by
 * concurrent callers: a function that calls a Google API on its first request does not load
 * google-auth-library (about 100 ms and 17 MiB of its cold start). Elsewhere (a key file,
 * gcloud's login on a workstation) google-auth-library resolves them, loaded on the first call.
 */
export function applicationDefaultCredentials(
  scope: string,
  env: Record<string, string | undefined> = process.env,
): Authorize {
  const metadataHost = env.GCE_METADATA_HOST || env.GCE_METADATA_IP;
  const onMetadataServer = !env.GOOGLE_APPLICATION_CREDENTIALS && (metadataHost || env.K_SERVICE);
  return onMetadataServer
    ? metadataServerToken(scope, metadataHost || metadataServer)
    : googleAuthLibrary(scope);
}

function metadataServerToken(scope: string, host: string): Authorize {
  const base = /^https?:\/\//.test(host) ? host : `http://${host}`;
  const url = `${base}/computeMetadata/v1/instance/service-accounts/default/token?scopes=${encodeURIComponent(scope)}`;
  const calls = httpCalls({ timeoutMs: 5_000 });
  let token: { header: string; refreshAt: number } | undefined;
  let refreshing: Promise<string> | undefined;

  async function fetchToken(): Promise<string> {
    const { status, text } = await calls.get(url, { 'metadata-flavor': 'Google' });
    if (status !== 200) {
      throw new Error(`the metadata server answered ${status} for a token: ${text.slice(0, 200)}`);
    }
    const answer = parseJsonObject(text);
    const { access_token, expires_in, token_type = 'Bearer' } = answer ?? {};
    if (typeof access_token !== 'string' || access_token === '' || typeof expires_in !== 'number') {
      throw new Error(
        `the metadata server answered no access_token and expires_in for a token: ${text.slice(0, 200)}`,
      );
    }
    const header = `${token_type} ${access_token}`;
    token = { header, refreshAt: Date.now() + expires_in * 1_000 - refreshBeforeExpiryMs };
    return header;
  }

  return async () => {
    if (token && Date.now() < token.refreshAt) return { authorization: token.header };
    refreshing ??= fetchToken().finally(() => {
      refreshing = undefined;
    });
    return { authorization: await refreshing };
  };
}

function googleAuthLibrary(scope: string): Authorize {
  let auth: import('google-auth-library').GoogleAuth | undefined;
  return async () => {
    const { GoogleAuth } = require('google-auth-library') as typeof import('google-auth-library');
    auth ??= new GoogleAuth({ scopes: [scope] });
    return Object.fromEntries((await auth.getRequestHeaders()).entries());
  };
}

/** Headers that authorize one call to a Google API. */
export type Authorize = () => Promise<Record<string, string>>;

/**
 * Authorization headers from Application Default Credentials for `scope` (the metadata server
 * on Cloud Run, whose address GCE_METADATA_HOST overrides; a key file or gcloud's login
 * elsewhere), cached and refreshed by google-auth-library. The library is loaded on the first
 * call, not when the module is.
 */
export function applicationDefaultCredentials(scope: string): Authorize {
  let auth: import('google-auth-library').GoogleAuth | undefined;
  return async () => {
    const { GoogleAuth } = require('google-auth-library') as typeof import('google-auth-library');
    auth ??= new GoogleAuth({ scopes: [scope] });
    return Object.fromEntries((await auth.getRequestHeaders()).entries());
  };
}

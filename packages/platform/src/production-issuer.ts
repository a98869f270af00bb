/**
 * Why `url` (an issuer or its key set) cannot serve production, or undefined when it can:
 * production's issuer is served over https by another host, never this machine (the
 * development issuer of `pnpm dev` is http on 127.0.0.1). place-order refuses such an issuer
 * on Cloud Run, and `pnpm run deploy` refuses to deploy one.
 */
export function productionIssuerProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `${url} is not a URL`;
  }
  const host = parsed.hostname;
  // Loopback and unspecified addresses, IPv4, IPv6 and IPv4-mapped (URL writes those in hex).
  const local =
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    /^127\.|^0\.0\.0\.0$|^\[::1?\]$|^\[::ffff:(7f|0:0\])/.test(host);
  if (local) return `${parsed.origin} is this machine: the development issuer is refused`;
  if (parsed.protocol !== 'https:') return `${parsed.origin} is not https`;
  return undefined;
}

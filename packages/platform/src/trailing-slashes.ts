/**
 * `path` without the slashes it ends with (`/orders//` -> `/orders`; `/` stays `/`), in
 * linear time: the regular expression `/\/+$/` takes time quadratic in a run of slashes that
 * does not end the text, which a client controls in a request path.
 */
export function withoutTrailingSlashes(path: string): string {
  let end = path.length;
  while (end > 1 && path.charCodeAt(end - 1) === 0x2f) end--;
  return path.slice(0, end);
}

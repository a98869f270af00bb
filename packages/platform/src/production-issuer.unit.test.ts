import { describe, expect, it } from '@jest/globals';
import { productionIssuerProblem } from './production-issuer';

describe('productionIssuerProblem', () => {
  it('accepts an issuer served over https by another host', () => {
    expect(productionIssuerProblem('https://securetoken.google.com/acme-prod')).toBeUndefined();
    expect(
      productionIssuerProblem('https://auth.example.com/.well-known/jwks.json'),
    ).toBeUndefined();
  });

  it.each([
    'http://127.0.0.1:40121',
    'https://127.8.9.10/jwks.json',
    'https://localhost:8443',
    'https://auth.localhost',
    'https://[::1]/',
    'https://[::]/',
    'https://0.0.0.0/',
    'https://[::ffff:127.0.0.1]/',
    'https://[::ffff:0.0.0.0]/',
  ])('refuses %s: this machine', (url) => {
    expect(productionIssuerProblem(url)).toMatch(/is this machine/);
  });

  it('refuses an issuer not on https, and text that is no URL', () => {
    expect(productionIssuerProblem('http://issuer.example')).toMatch(/is not https/);
    expect(productionIssuerProblem('issuer.example')).toMatch(/is not a URL/);
  });
});

import { describe, expect, it } from 'vitest';
import { guessContentType, routeUrl } from '../../shared/cli/send.js';

describe('run-relay send arguments', () => {
  it.each([
    ['{"a":1}', undefined, 'application/json'],
    ['not json', 'event.json', 'application/json'],
    ['action=opened&number=3', undefined, 'application/x-www-form-urlencoded'],
    ['hello world', undefined, 'text/plain'],
    ['a=1 & b=2', undefined, 'text/plain'],
  ])('sends %j (file %s) as %s', (body, file, type) => {
    expect(guessContentType(Buffer.from(body), file)).toBe(type);
  });

  it.each([
    ['http://127.0.0.1:8080', 'github', 'http://127.0.0.1:8080/github'],
    ['https://relay.example.com/', 'github', 'https://relay.example.com/github'],
    ['https://relay.example.com/hooks/github', 'github', 'https://relay.example.com/hooks/github'],
  ])('posts to %s + route %s as %s', (base, route, url) => {
    expect(routeUrl(base, route)).toBe(url);
  });

  it('names --url when it is not a URL', () => {
    expect(() => routeUrl('relay.example.com', 'github')).toThrow(
      'expected --url to be a URL such as http://127.0.0.1:8080, got "relay.example.com"',
    );
  });
});

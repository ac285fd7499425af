import { describe, expect, it } from 'vitest';
import { compileContract, contractSchema } from '../../shared/contract/contract.js';
import { RelayError } from '../../shared/errors.js';

const contract = compileContract(
  contractSchema.parse({
    schema: { type: 'object', required: ['action'], properties: { action: { type: 'string' } } },
    events: {
      push: {
        type: 'object',
        required: ['ref', 'commits'],
        properties: { ref: { type: 'string', pattern: '^refs/' }, commits: { type: 'array', items: { type: 'object', required: ['id'] } } },
      },
    },
  }),
);

function issuesOf(body: unknown, event?: string) {
  try {
    contract.check(body, event);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(RelayError);
    expect((error as RelayError).status).toBe(422);
    return (error as RelayError).expose.issues;
  }
}

describe('payload contracts', () => {
  it('lets a body that fits through', () => {
    expect(issuesOf({ action: 'opened' })).toBeUndefined();
    expect(issuesOf({ ref: 'refs/heads/main', commits: [{ id: '1' }] }, 'push')).toBeUndefined();
  });

  it('lists every issue with its path and message', () => {
    expect(issuesOf({ ref: 'main', commits: [{}, { id: 'x' }] }, 'push')).toEqual([
      { path: '$.ref', message: expect.any(String) },
      { path: '$.commits[0].id', message: expect.any(String) },
    ]);
  });

  it('holds a required name to JSON Schema meaning even without a properties entry', () => {
    expect(issuesOf({ ref: 'refs/x', commits: [{ message: 'no id' }] }, 'push')).toEqual([
      { path: '$.commits[0].id', message: expect.any(String) },
    ]);
  });

  it('uses the per-event schema instead of the route schema for that event, and the route schema otherwise', () => {
    expect(issuesOf({ ref: 'refs/x', commits: [] }, 'push')).toBeUndefined();
    expect(issuesOf({ ref: 'refs/x', commits: [] }, 'issues')).toEqual([{ path: '$.action', message: expect.any(String) }]);
  });

  it('refuses a JSON Schema zod cannot use at start-up, naming where', () => {
    const result = contractSchema.safeParse({
      events: { push: { type: 'bogus' } },
      schema: { $ref: 'https://elsewhere.example/schema.json' },
    });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['events.push', 'schema']);
  });
});

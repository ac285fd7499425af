import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_REASONS } from '../../shared/delivery/dead-letter.js';
import { RelayError } from '../../shared/errors.js';
import { CONSUMER_HEADER, IDEMPOTENCY_KEY_HEADER, RELAY_SET_HEADERS, passableHeaders } from '../../shared/forward/headers.js';
import { MAX_HEADER_VALUE_BYTES, MAX_PATH_BYTES, unsendableReason } from '../../shared/forward/limits.js';
import { joinQuery, outboundRequests } from '../../shared/forward/outbound.js';
import { classify, decide, isRetryableStatus, PARK_REASONS } from '../../shared/forward/policy.js';
import { IdentityError } from '../../shared/identity/identity-error.js';

describe('the delivery policy', () => {
  it.each([
    [200, false, 'deliver'],
    [204, false, 'deliver'],
    [301, false, 'park'],
    [400, false, 'park'],
    [404, false, 'park'],
    [408, true, 'retry'],
    [409, false, 'park'],
    [429, true, 'retry'],
    [500, true, 'retry'],
    [501, false, 'park'],
    [502, true, 'retry'],
    [503, true, 'retry'],
    [504, true, 'retry'],
    [505, false, 'park'],
  ] as const)('treats a target %i as retryable=%s, verdict %s', (status, retryable, verdict) => {
    expect(isRetryableStatus(status)).toBe(retryable);
    expect(classify({ status })).toBe(verdict);
  });

  it('parks a refused status as target_rejected', () => {
    expect(decide({ status: 501 })).toEqual({ verdict: 'park', reason: 'target_rejected' });
  });

  it.each([
    ['target_unreachable', new RelayError('target_unreachable', 'x'), 'retry'],
    ['deadline_exceeded (a later delivery has a new budget)', new RelayError('deadline_exceeded', 'x'), 'retry'],
    ['a transient token failure', new IdentityError('x', true), 'retry'],
    ['a permanent token failure (a new grant takes minutes to reach IAM)', new IdentityError('x', false), 'retry'],
    ['an unknown error', new Error('boom'), 'retry'],
    ['target_invalid_response (the target may have acted)', new RelayError('target_invalid_response', 'x'), 'park'],
    ['request_not_sendable', new RelayError('request_not_sendable', 'x'), 'park'],
  ])('decides %s: %s', (_name, error, verdict) => {
    expect(classify({ error })).toBe(verdict);
  });

  it('parks only for reasons the dead-letter record knows', () => {
    for (const reason of PARK_REASONS) expect(DEAD_LETTER_REASONS).toContain(reason);
    expect(decide({ error: new RelayError('request_not_sendable', 'x') })).toEqual({ verdict: 'park', reason: 'request_not_sendable' });
  });
});

describe('outbound requests', () => {
  it.each([
    ['/x', '', '/x'],
    ['/x', '?q=1', '/x?q=1'],
    ['/x?a=1', '?q=1', '/x?a=1&q=1'],
    ['/x?', '?q=1', '/x?q=1'],
    ['/x?a=1&', 'q=1', '/x?a=1&q=1'],
    ['/x?a=1', '?', '/x?a=1'],
  ])('joins path %j and query %j as %j', (path, query, expected) => {
    expect(joinQuery(path, query)).toBe(expected);
  });

  it('adds the idempotency key and consumer once, over whatever the event claimed', () => {
    const event = {
      headers: {
        'content-type': 'text/plain',
        [IDEMPOTENCY_KEY_HEADER]: 'forged',
        [CONSUMER_HEADER]: 'admin',
        authorization: 'Bearer x',
        expect: '100-continue',
      },
      eventKey: 'e-1',
      query: '?q=1',
    };
    const destinations = [
      { target: 'a', path: '/a?x=1', method: 'POST' as const },
      { target: 'b', path: '/b', method: 'PUT' as const },
    ];
    expect(
      outboundRequests({ ...event, keys: 'event', consumer: 'acme' }, destinations).map((r) => [r.target, r.method, r.path, r.headers]),
    ).toEqual([
      ['a', 'POST', '/a?x=1&q=1', { 'content-type': 'text/plain', [CONSUMER_HEADER]: 'acme', [IDEMPOTENCY_KEY_HEADER]: 'e-1' }],
      ['b', 'PUT', '/b?q=1', { 'content-type': 'text/plain', [CONSUMER_HEADER]: 'acme', [IDEMPOTENCY_KEY_HEADER]: 'e-1' }],
    ]);
    expect(
      outboundRequests({ ...event, keys: 'per-target' }, destinations).map((r) => [
        r.idempotencyKey,
        r.headers[IDEMPOTENCY_KEY_HEADER],
        r.headers[CONSUMER_HEADER],
      ]),
    ).toEqual([
      ['e-1:a', 'e-1:a', undefined],
      ['e-1:b', 'e-1:b', undefined],
    ]);
  });

  it('names every header the relay sets itself, and no event keeps one', () => {
    expect([...RELAY_SET_HEADERS].sort()).toEqual(['authorization', 'idempotency-key', 'x-relay-consumer', 'x-serverless-authorization']);
    expect(passableHeaders(Object.fromEntries([...RELAY_SET_HEADERS, 'expect', 'x-ok'].map((h) => [h, '1'])))).toEqual({ 'x-ok': '1' });
  });

  it.each([
    ['a path at the limit', '/' + 'p'.repeat(MAX_PATH_BYTES - 1), {}, undefined],
    ['a longer path', '/' + 'p'.repeat(MAX_PATH_BYTES), {}, /path is 8193 bytes, over the 8192-byte limit/],
    ['a header value at the limit', '/', { 'x-a': 'v'.repeat(MAX_HEADER_VALUE_BYTES) }, undefined],
    ['a longer header value', '/', { 'x-a': 'v'.repeat(MAX_HEADER_VALUE_BYTES + 1) }, /header x-a is 16385 bytes/],
    [
      'too many header bytes in all',
      '/',
      Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`x-${i}`, 'v'.repeat(MAX_HEADER_VALUE_BYTES)])),
      /headers are \d+ bytes, over the 65536-byte limit/,
    ],
  ])('bounds what can be sent: %s', (_name, path, headers, reason) => {
    const got = unsendableReason(path, headers as Record<string, string>);
    if (reason === undefined) expect(got).toBeUndefined();
    else expect(got).toMatch(reason);
  });
});

/**
 * `run-relay consumer-key --consumer NAME [--expires DATE] [--route ROUTE]`:
 * creates a consumer key, prints the plaintext once and the config line to
 * paste under the route's `verify.keys`. Only the digest goes in the config.
 */
import { consumerKeySchema, generateConsumerKey } from '../verify/consumer-keys.js';
import { CliError, type Command } from './main.js';

export const consumerKeyCommand: Command = {
  summary: 'Create a consumer key for a bearer route: prints the key once, and the config line holding only its SHA-256 digest.',
  usage: 'run-relay consumer-key --consumer NAME [--expires YYYY-MM-DD] [--route ROUTE]',
  options: {
    consumer: { type: 'string' },
    expires: { type: 'string' },
    route: { type: 'string' },
  },
  async run({ values, out }) {
    const consumer = values.consumer;
    if (typeof consumer !== 'string') throw new CliError('--consumer is required (the name forwarded to the target as X-Relay-Consumer)');
    const expires = typeof values.expires === 'string' ? values.expires : undefined;
    const { key, sha256 } = generateConsumerKey();
    const checked = consumerKeySchema().safeParse({ consumer, sha256, ...(expires ? { expires } : {}) });
    if (!checked.success) {
      const issue = checked.error.issues[0]!;
      throw new CliError(`--${String(issue.path[0])}: ${issue.message}`);
    }
    if (checked.data.expires !== undefined && checked.data.expires <= Date.now())
      throw new CliError(`--expires ${expires} is already in the past`);
    const where = typeof values.route === 'string' ? `routes.${values.route}.verify.keys` : 'routes.<route>.verify.keys';
    out(`Key for ${consumer} (shown once; give it to the consumer or store it in Secret Manager):`);
    out('');
    out(`  ${key}`);
    out('');
    out(`Add this line under ${where} (revoke by deleting it):`);
    out('');
    out(`  - { consumer: ${JSON.stringify(consumer)}, sha256: ${sha256}${expires ? `, expires: ${JSON.stringify(expires)}` : ''} }`);
    return 0;
  },
};

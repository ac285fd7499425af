/**
 * Entry point: registers every function of the relay with the Functions
 * Framework. Deployed with `--entry-point=webhook` (and, later, others).
 * The config is read here, once per instance; a bad config stops start-up
 * with a message naming each bad key.
 */
import { installJsonFrameworkErrors, setEarlyBodyLimit } from './framework-errors.js';
import { cloudEvent, http } from '@google-cloud/functions-framework';
import { ConfigError } from '../shared/config/load.js';
import { createRuntime, routeBodyLimit, type Runtime } from './runtime.js';
import { webhookHandler } from './webhook.js';
import { pubsubHandler } from './pubsub.js';

installJsonFrameworkErrors();

let runtime: Runtime;
try {
  runtime = createRuntime();
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(JSON.stringify({ severity: 'CRITICAL', message: error.message }) + '\n');
    process.exit(1);
  }
  throw error;
}

setEarlyBodyLimit(routeBodyLimit(runtime.loaded.config));
http('webhook', webhookHandler(runtime.relay));
cloudEvent('pubsub', pubsubHandler(runtime.deliverer, runtime.logger));

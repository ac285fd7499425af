/**
 * Entry point: registers every function of the relay with the Functions
 * Framework (`--target=webhook` or `--target=pubsub`). The config is read
 * here, once per instance; a bad config stops start-up with a message naming
 * each bad key. The front door is installed before the framework builds its
 * server, with the policy of the function this instance serves.
 */
import { cloudEvent, http } from '@google-cloud/functions-framework';
import { ConfigError } from '../shared/config/load.js';
import { pubsubDoorPolicy, webhookDoorPolicy } from '../shared/door/policy.js';
import { installFrontDoor } from './front-door.js';
import { createRuntime, frameworkTarget, type Runtime } from './runtime.js';
import { webhookHandler } from './webhook.js';
import { pubsubHandler } from './pubsub.js';

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

const { config } = runtime.loaded;
installFrontDoor({
  policy: frameworkTarget(process.argv, process.env) === 'pubsub' ? pubsubDoorPolicy(config) : webhookDoorPolicy(config),
});
http('webhook', webhookHandler(runtime.relay));
cloudEvent('pubsub', pubsubHandler(runtime.deliverer, runtime.logger));
// While the framework builds its server and starts listening, fetch the tokens the first requests will need.
runtime.prefetchTokens();

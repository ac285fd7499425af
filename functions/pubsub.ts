import type { CloudEventFunction } from '@google-cloud/functions-framework';
import type { Deliverer } from '../shared/delivery/deliver.js';
import { messageFromEvent } from '../shared/delivery/message.js';
import type { Logger } from '../shared/log.js';

/**
 * The `pubsub` CloudEvent function. Returning acks the message (the
 * framework answers 204); throwing nacks it (500), so Pub/Sub redelivers.
 * Something that is not a Pub/Sub message at all is logged and acked: a
 * retry could never make it one.
 */
export function pubsubHandler(deliverer: Deliverer, logger: Logger): CloudEventFunction<unknown> {
  return async (event) => {
    const message = messageFromEvent(event);
    if (!message) {
      logger.error('Event is not a Pub/Sub message; dropped', { type: (event as { type?: unknown })?.type });
      return;
    }
    await deliverer.handle(message);
  };
}

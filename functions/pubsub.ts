import type { CloudEventFunction } from '@google-cloud/functions-framework';
import type { Deliverer } from '../shared/delivery/deliver.js';
import { messageFromEvent } from '../shared/delivery/message.js';
import type { Logger } from '../shared/log.js';
import { outsideFrameworkDomain } from './own-domain.js';

/**
 * The `pubsub` CloudEvent function. Returning acks the message (the
 * framework answers 204); throwing nacks it (500), so Pub/Sub redelivers.
 * Something that is not a Pub/Sub message at all is logged and acked: a
 * retry could never make it one.
 */
export function pubsubHandler(deliverer: Deliverer, logger: Logger): CloudEventFunction<unknown> {
  return outsideFrameworkDomain(async (event: unknown) => {
    const message = messageFromEvent(event);
    if (!message) {
      logger.error('Event is not a Pub/Sub message; dropped', { type: (event as { type?: unknown })?.type });
      return;
    }
    try {
      await deliverer.handle(message);
    } catch (error) {
      // The deliverer has logged the details; the framework prints `stack` of what we throw, so throw one line.
      throw nack(error);
    }
  });
}

/** A one-line error for the framework to print and answer 500 with: Pub/Sub redelivers. */
export function nack(error: unknown): Error {
  const code = (error as { code?: unknown })?.code;
  const nackError = new Error(`Delivery not completed (${typeof code === 'string' ? code : 'internal'}); Pub/Sub will redeliver`);
  nackError.stack = nackError.message;
  return nackError;
}

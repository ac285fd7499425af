import type { OutgoingMessage, Publisher } from '../../shared/pubsub/publisher.js';

/** A publisher that keeps what it is given, in order; message ids are "1", "2", ... */
export function recordingPublisher() {
  const published: { topic: string; message: OutgoingMessage }[] = [];
  const publisher: Publisher = {
    async publish(topic, message) {
      published.push({ topic, message });
      return String(published.length);
    },
    async close() {},
  };
  return { publisher, published };
}

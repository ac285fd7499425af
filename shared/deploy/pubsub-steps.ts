/**
 * The Pub/Sub half of a deployment: the relay's topics, the dead-letter
 * inbox, who may publish where, and the push subscriptions (with their
 * retry, ack deadline and dead-letter policy) feeding the pubsub function.
 */
import type { RelayConfig } from '../config/schema.js';
import { functionUrl, topicSubscriptionName } from './names.js';
import { subscriptionStep, topicStep } from './resource-steps.js';
import { bindingStep, type PlanContext, type Step } from './step.js';

/** Topics, the dead-letter inbox, and publish grants: made before the functions, so nothing published is dropped. */
export function topicSteps(config: RelayConfig, ctx: PlanContext): Step[] {
  const { project, label, runtimeMember, pubsubServiceAgent } = ctx;
  const { deliveryTopic, deadLetterTopic, deadLetterSubscription } = config.pubsub;
  const p = `--project=${project}`;
  const steps: Step[] = [];
  steps.push(
    topicStep(
      project,
      deliveryTopic,
      label,
      'Async routes, fan-out, schedules and replays publish envelopes here; the pubsub function delivers them.',
    ),
  );
  steps.push(
    topicStep(
      project,
      deadLetterTopic,
      label,
      'Messages that cannot be delivered are parked here, by the relay or by Pub/Sub after the last attempt.',
    ),
  );
  steps.at(-1)!.destroy!.deadLetters = true;
  for (const topic of Object.keys(config.topics)) {
    steps.push(
      topicStep(
        project,
        topic,
        label,
        `topics.${topic}: its messages are relayed to ${config.topics[topic]!.forward.map((f) => f.target).join(', ')}. Created when missing; an existing topic is used as it is and --destroy leaves it.`,
      ),
    );
  }
  // Before anything can dead-letter: a topic without a subscription drops what is published to it.
  steps.push(
    subscriptionStep({
      project,
      name: deadLetterSubscription,
      topic: deadLetterTopic,
      label,
      why: 'Holds parked messages for `npm run relay -- dlq list|show|replay`; never expires, keeps messages 7 days.',
      ackDeadline: 60,
    }),
  );
  steps.at(-1)!.destroy!.deadLetters = true;
  for (const topic of [deliveryTopic, deadLetterTopic]) {
    steps.push(
      bindingStep({
        id: `publisher ${topic}`,
        section: 'Topics',
        title: `The runtime account may publish to ${topic}`,
        why:
          topic === deliveryTopic
            ? 'The webhook function publishes async events here; the pubsub function publishes fan-out envelopes.'
            : 'The pubsub function parks undeliverable messages here.',
        group: ['pubsub', 'topics'],
        resource: [topic, p],
        role: 'roles/pubsub.publisher',
        member: runtimeMember,
      }),
    );
  }
  steps.push(
    bindingStep({
      id: `dead-letter publisher ${deadLetterTopic}`,
      section: 'Topics',
      title: `Pub/Sub's service agent may publish to ${deadLetterTopic}`,
      why: 'Dead-lettering: after the last delivery attempt Pub/Sub itself moves the message here, as its service agent.',
      group: ['pubsub', 'topics'],
      resource: [deadLetterTopic, p],
      role: 'roles/pubsub.publisher',
      member: pubsubServiceAgent,
    }),
  );
  return steps;
}

/** The push account's invoker grant, and one push subscription per fed topic, after the pubsub function exists. */
export function pushSteps(config: RelayConfig, ctx: PlanContext): Step[] {
  const { project, projectNumber, region, names, label, pubsubServiceAgent, ackDeadline } = ctx;
  const { deliveryTopic, deadLetterTopic } = config.pubsub;
  const p = `--project=${project}`;
  const pubsubUrl = functionUrl(names.pubsubFunction, projectNumber, region);
  const steps: Step[] = [];
  steps.push(
    bindingStep({
      id: `invoker ${names.pubsubFunction}`,
      section: 'Functions',
      title: `The push account may invoke ${names.pubsubFunction}`,
      why: 'Pub/Sub pushes with an ID token for the push account; that account can invoke this function and nothing else.',
      group: ['run', 'services'],
      resource: [names.pubsubFunction, `--region=${region}`, p],
      role: 'roles/run.invoker',
      member: `serviceAccount:${names.pushAccount}`,
    }),
  );
  steps.push(
    bindingStep({
      id: `token creator ${names.pushAccount}`,
      section: 'Delivery',
      title: `Pub/Sub's service agent may sign push tokens as ${names.pushAccount}`,
      why: "Authenticated push: Pub/Sub mints the push account's ID token for each push (needed on projects created before April 2021; harmless after). On this account only.",
      group: ['iam', 'service-accounts'],
      resource: [names.pushAccount, p],
      role: 'roles/iam.serviceAccountTokenCreator',
      member: pubsubServiceAgent,
    }),
  );
  const feeds: { subscription: string; topic: string; why: string }[] = [
    {
      subscription: names.deliverySubscription,
      topic: deliveryTopic,
      why: "Pushes envelopes to the pubsub function with the relay's retry, ack deadline and dead-letter policy.",
    },
    ...Object.keys(config.topics).map((topic) => ({
      subscription: topicSubscriptionName(config, topic),
      topic,
      why: `Pushes topics.${topic}'s messages to the pubsub function with the same policies.`,
    })),
  ];
  for (const feed of feeds) {
    steps.push(
      subscriptionStep({
        project,
        name: feed.subscription,
        topic: feed.topic,
        label,
        why: feed.why,
        ackDeadline,
        push: {
          endpoint: `${pubsubUrl}/projects/${project}/topics/${feed.topic}`,
          audience: pubsubUrl,
          account: names.pushAccount,
          deadLetterTopic,
          maxDeliveryAttempts: config.deploy.maxDeliveryAttempts,
          minRetryDelay: config.deploy.minRetryDelaySeconds,
          maxRetryDelay: config.deploy.maxRetryDelaySeconds,
        },
      }),
    );
    steps.push(
      bindingStep({
        id: `dead-letter subscriber ${feed.subscription}`,
        section: 'Delivery',
        title: `Pub/Sub's service agent may forward dead letters from ${feed.subscription}`,
        why: 'Dead-lettering also needs the service agent to acknowledge the message on its source subscription.',
        group: ['pubsub', 'subscriptions'],
        resource: [feed.subscription, p],
        role: 'roles/pubsub.subscriber',
        member: pubsubServiceAgent,
      }),
    );
  }
  return steps;
}

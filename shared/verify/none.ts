import * as z from 'zod';
import { defineScheme } from './scheme.js';

/** No verification: an unauthenticated public route, only when chosen explicitly. */
export const none = defineScheme({
  scheme: 'none',
  options: () => z.object({ scheme: z.literal('none') }).strict(),
  secretEnvs: () => [],
  forwardHeaders: [],
  signatureHeaders: [],
  signedHeaders: [],
  create: () => ({ verify: () => ({}) }),
});

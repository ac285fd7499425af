import type { HttpFunction } from '@google-cloud/functions-framework';
import type { Relay } from '../shared/relay.js';
import { errorResponse } from '../shared/http.js';
import { sendRelayResponse, toRelayRequest } from './adapter.js';
import { outsideFrameworkDomain } from './own-domain.js';

/** The public `webhook` HTTP function: `POST /<route>` and `GET /healthz`. */
export function webhookHandler(relay: Relay): HttpFunction {
  return outsideFrameworkDomain(async (req, res) => {
    try {
      sendRelayResponse(res, await relay.handle(toRelayRequest(req)));
    } catch (error) {
      // relay.handle answers every failure itself; this is the last guard.
      if (!res.headersSent) sendRelayResponse(res, errorResponse(error));
    }
  });
}
